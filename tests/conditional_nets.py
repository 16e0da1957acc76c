"""Small conditional networks for the train-step tests, written to the nets' contract and simple enough that a
test can recompute them in NumPy: G(z, train, y) and D(x, train, y), D's auxiliary heads sown into "heads".

- `LinearG`: tanh([z, one_hot(y)] @ W + b), reshaped to the image shape.
- `LinearD`: phi = flatten(x) @ V (linear features), logit = phi @ w + c, class head phi @ Wc + bc, rotation
  head phi @ Wr + br. It reads y (as a conditional D must) and ignores it in the logit.
- `LabelG` / `LabelCheckD`: G paints every pixel with its label's code (`code(y)`); D's logit turns NaN when
  an image's pixels do not decode to the label it was given, so a step whose labels and images disagree at any
  position of D's batch is a non-finite step.
"""
from typing import Tuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from gan_bench.gan import state as gan_state
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.train_step import GANModel


def one_hot(y, num_classes):
    return (y[:, None] == jnp.arange(num_classes)[None, :]).astype(jnp.float32)


def code(y, num_classes):
    """The pixel value that encodes label y: evenly spaced in [-0.9, 0.9]."""
    return -0.9 + 1.8 * y / (num_classes - 1)


def decode(x, num_classes):
    """The label of an image painted with `code` (the mean pixel, rounded)."""
    mean = x.reshape(x.shape[0], -1).mean(axis=1)
    return jnp.round((mean + 0.9) / 1.8 * (num_classes - 1)).astype(jnp.int32)


class LinearG(nn.Module):
    data_shape: Tuple[int, ...]
    num_classes: int
    bn_groups: int = 1

    @nn.compact
    def __call__(self, z, train, y=None):
        if y is None:
            raise ValueError("LinearG needs y")
        h = jnp.concatenate([z, one_hot(y, self.num_classes)], axis=1)
        out = nn.Dense(int(np.prod(self.data_shape)), name="out")(h)
        return jnp.tanh(out).reshape((-1,) + tuple(self.data_shape))


class LinearD(nn.Module):
    num_classes: int
    features: int = 8

    @nn.compact
    def __call__(self, x, train, y=None):
        if y is None:
            raise ValueError("LinearD needs y")
        phi = nn.Dense(self.features, use_bias=False, name="features")(x.reshape(x.shape[0], -1))
        self.sow("heads", "class_logits", nn.Dense(self.num_classes, name="class_head")(phi))
        self.sow("heads", "rotation_logits", nn.Dense(4, name="rotation_head")(phi))
        return nn.Dense(1, name="logit")(phi)[:, 0]


class LabelG(nn.Module):
    data_shape: Tuple[int, ...]
    num_classes: int
    bn_groups: int = 1

    @nn.compact
    def __call__(self, z, train, y=None):
        if y is None:
            raise ValueError("LabelG needs y")
        noise = nn.Dense(int(np.prod(self.data_shape)), name="out")(z).reshape((-1,) + tuple(self.data_shape))
        return code(y, self.num_classes)[:, None, None, None] + 0.0 * jnp.tanh(noise)


class LabelCheckD(nn.Module):
    num_classes: int

    @nn.compact
    def __call__(self, x, train, y=None):
        if y is None:
            raise ValueError("LabelCheckD needs y")
        logit = nn.Dense(1, name="logit")(x.reshape(x.shape[0], -1))[:, 0]
        agree = decode(x, self.num_classes) == y
        return jnp.where(agree, logit, jnp.nan)


def hparams(**values):
    """Traced hyperparameters: the TrialConfig defaults, `values` replacing some."""
    defaults = {"g_lr": 2e-4, "d_lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "penalty_weight": 10.0,
                "clip_value": 0.01, "ema_decay": 0.0}
    defaults.update(values)
    return {name: jnp.asarray(defaults[name], jnp.float32) for name in gan_state.TRACED_HPARAMS}


def model(generator, discriminator, data_shape, num_classes, *, g_tx, d_tx, loss="non_saturating", **fields):
    return GANModel(generator=generator, discriminator=discriminator, loss_fn=LOSSES.get(loss), penalty_fn=None,
                    d_projection=None, z_dim=4, z_dist="normal", n_disc=fields.pop("n_disc", 1), pack=1,
                    data_shape=tuple(data_shape), g_tx=g_tx, d_tx=d_tx, regularizers=fields.pop("regularizers", ()),
                    augment=None, num_classes=num_classes, g_labels=True, d_labels=True, **fields)
