"""Regularizers of GAN training: `trial.regularizers = ['cr', 'lecam', ...]`, any number of them at once.

Unlike a penalty (one loss term on D, weighted by `trial.penalty_weight`), a regularizer may add a term to D's
loss, a term to G's loss, replace G's adversarial loss (top-k), and keep state in the train state (LeCam's
anchors). Each is a frozen dataclass bound in gin under its name, with its paper's values as defaults and its
own weight(s) as gin keys (`lecam.weight = 0.3`), so sweeps vary them like any other key.

The train step hands a regularizer what it needs as a `DiscriminatorPass` (inside D's differentiated
objective) or a `GeneratorPass` (inside G's). The images there are the ones D judged: augmented when an
augmentation is on, so a consistency term compares D's outputs on what D actually saw.
"""
import dataclasses
from typing import Any, Callable, Dict, List, Optional, Tuple

import jax.numpy as jnp

from gan_bench.checks import is_number
from gan_bench.registry import Registry

# name -> class of the regularizer (the gin configurable of the same name).
REGULARIZERS: Registry = Registry("regularizer")

Logs = Dict[str, jnp.ndarray]


@dataclasses.dataclass(frozen=True)
class DiscriminatorPass:
    """One of D's updates, seen from inside its objective (all arrays of the current D update).

    `discriminate(x, y=None)` runs D with the parameters being differentiated, in training mode, its
    normalization updates dropped (as a penalty's pass is). `generate(z, y=None)` runs G in training mode without
    gradient (D's update does not train G). `real_labels` / `fake_labels`: the class labels of `real` / `fake`
    in a class-conditional trial (None otherwise), for the `y` of those calls. `augment_like_fakes(x)` applies
    the augmentation with the draws the fakes got (identity without augmentation). `key` is this regularizer's
    own key for this update; `step` the generator step.
    """

    real: jnp.ndarray
    fake: jnp.ndarray
    real_logits: jnp.ndarray
    fake_logits: jnp.ndarray
    discriminate: Callable[[jnp.ndarray], jnp.ndarray]
    z: jnp.ndarray
    generate: Callable[[jnp.ndarray], jnp.ndarray]
    augment_like_fakes: Callable[[jnp.ndarray], jnp.ndarray]
    key: jnp.ndarray
    step: jnp.ndarray
    real_labels: Optional[jnp.ndarray] = None
    fake_labels: Optional[jnp.ndarray] = None


@dataclasses.dataclass(frozen=True)
class GeneratorPass:
    """G's update, seen from inside its objective: `fake = G(z, labels)` and `generate(z', y=None)`
    differentiate into G; `params` are G's parameters being differentiated (weight regularizers)."""

    z: jnp.ndarray
    fake: jnp.ndarray
    real_logits: jnp.ndarray
    fake_logits: jnp.ndarray
    generate: Callable[[jnp.ndarray], jnp.ndarray]
    key: jnp.ndarray
    step: jnp.ndarray
    labels: Optional[jnp.ndarray] = None
    params: Any = None
    # discriminate_heads(x): what D sows into "heads" on images x (EBGAN's embedding), gradients flowing into x.
    discriminate_heads: Optional[Callable[[jnp.ndarray], Dict[str, jnp.ndarray]]] = None


class Regularizer:
    """The interface of a regularizer; the defaults do nothing, so each method overrides only what it changes."""

    name = ""
    image_only = False  # True: needs [H, W, C] data (its transform acts on images)

    def init_state(self) -> Dict[str, Any]:
        """The state kept in `GANState.objective_state[name]` ({}: none)."""
        return {}

    def discriminator_term(self, ctx: DiscriminatorPass, state) -> Tuple[Any, Any, Logs]:
        """(weighted term added to D's loss, new state, logs) for one of D's updates."""
        return jnp.zeros((), jnp.float32), state, {}

    def generator_term(self, ctx: GeneratorPass, state) -> Tuple[Any, Logs]:
        """(weighted term added to G's loss, logs)."""
        del ctx, state
        return jnp.zeros((), jnp.float32), {}

    def generator_loss(self, loss_fn, real_logits, fake_logits, step, images_per_step) -> Optional[Tuple[Any, Logs]]:
        """G's adversarial loss in place of `loss_fn`'s (top-k), with logs; None: `loss_fn`'s is kept."""
        del loss_fn, real_logits, fake_logits, step, images_per_step
        return None

    def problems(self) -> List[str]:
        """What is wrong with this regularizer's hyperparameters (its gin keys)."""
        return []


def number_problems(owner: str, checks) -> List[str]:
    """One sentence per failed check: checks are (key, value, test, expected) on numbers of gin key `owner.key`."""
    out = []
    for key, value, test, expected in checks:
        if not is_number(value) or not test(value):
            out.append(f"{owner}.{key} = {value!r} is not {expected}")
    return out


def with_labels(fn, x, labels):
    """fn(x), or fn(x, labels) in a class-conditional trial: a pass's `discriminate` / `generate` with the
    labels of the images or latents it is given."""
    return fn(x) if labels is None else fn(x, labels)


def mean_square(a, b):
    """mean((a - b)^2): the squared-difference consistency of the CR family, averaged over the batch."""
    return jnp.mean(jnp.square(a - b))
