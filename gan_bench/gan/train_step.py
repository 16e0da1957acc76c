"""One training step of a GAN: `n_disc` discriminator updates, then one generator update.

`train_step(model, state, real) -> (state, metrics)` is pure and jittable. `real` holds the `n_disc` real
batches of this step, `[n_disc, B, *data_shape]`. Every random draw is `fold_in(state.key, step, purpose)`,
so the result depends on (seed, step) only: the same on 1 or N devices and after a resume. The step is
written for a single trial; `jax.vmap(partial(train_step, model))` trains a population (leading axis on
`state` and `real`), and sharding the batch axis of `real` over devices makes it data-parallel.

The discriminator sees real and fake samples in one concatenated batch, as compare_gan does, so batch-norm
statistics and the spectral-norm power iteration see both; the generator step reuses the last real batch.
Each network is updated by the optimizer its `NetworkState` owns; a projection of D's parameters (weight
clipping) follows each of D's updates.
"""
import dataclasses
from typing import Any, Callable, Optional, Tuple

import flax
import jax
import jax.numpy as jnp
import optax

from gan_bench.gan.penalties import PenaltyFn, ProjectionFn
from gan_bench.gan.state import GANState

# Purposes of random draws (fold_in constants), so no two uses ever share a key.
_D_Z, _D_PENALTY, _G_Z = 1, 2, 3


@dataclasses.dataclass(frozen=True)
class GANModel:
    """The static (compile-time) part of a trial: networks, objective, optimizers and shapes.

    `penalty_fn` is D's loss term (None: no term, logged as 0) and `d_projection` the constraint applied to
    D's parameters after each of D's updates (None: no constraint); see `penalties.d_regularizer`.
    `g_tx`/`d_tx` are the optimizers `init_state` hands to the networks' states.
    """

    generator: Any
    discriminator: Any
    loss_fn: Callable
    penalty_fn: Optional[PenaltyFn]
    d_projection: Optional[ProjectionFn]
    z_dim: int
    z_dist: str
    n_disc: int
    pack: int
    data_shape: Tuple[int, ...]
    g_tx: optax.GradientTransformation
    d_tx: optax.GradientTransformation
    init_batch: int = 2

    @property
    def d_input_shape(self):
        """D's per-example input shape after PacGAN packing along the last (channel/feature) axis."""
        return self.data_shape[:-1] + (self.data_shape[-1] * self.pack,)

    def sample_z(self, key, n):
        if self.z_dist == "normal":
            return jax.random.normal(key, (n, self.z_dim), jnp.float32)
        return jax.random.uniform(key, (n, self.z_dim), jnp.float32, -1.0, 1.0)

    def pack_batch(self, x):
        """PacGAN (Lin et al. 2018): concatenate `pack` consecutive samples along the last axis."""
        if self.pack == 1:
            return x
        b = x.shape[0]
        x = x.reshape((b // self.pack, self.pack) + x.shape[1:])
        x = jnp.moveaxis(x, 1, -2)  # [B/m, ..., m, C]
        return x.reshape(x.shape[:-2] + (x.shape[-2] * x.shape[-1],))

    def generate(self, params, norm_collections, z, train=False):
        """G(z) with G's normalization collections (`NetworkState.norm_collections`); in training mode,
        returns (samples, updated collections)."""
        variables = {"params": params, **norm_collections}
        if train:
            return self.generator.apply(variables, z, train=True, mutable=list(norm_collections))
        return self.generator.apply(variables, z, train=False)

    def discriminate(self, params, norm_collections, x, train=True):
        """D logits for unpacked samples x [B, ...]; returns (logits [B/pack], updated normalization collections)."""
        variables = {"params": params, **norm_collections}
        logits, updated = self.discriminator.apply(
            variables, self.pack_batch(x), train=train, mutable=list(norm_collections))
        return logits, flax.core.unfreeze(updated)


def _key(state: GANState, purpose: int, sub: int = 0):
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.key, state.step), purpose), sub)


def _d_update(model: GANModel, state: GANState, real, i):
    b = real.shape[0]
    z = model.sample_z(_key(state, _D_Z, i), b)
    fake, _ = model.generate(state.g.params, state.g.norm_collections, z, train=True)
    fake = jax.lax.stop_gradient(fake)
    d_collections = state.d.norm_collections

    def d_objective(d_params):
        logits, updated = model.discriminate(d_params, d_collections, jnp.concatenate([real, fake]))
        real_logits, fake_logits = jnp.split(logits, 2)
        d_loss, _ = model.loss_fn(real_logits, fake_logits)
        if model.penalty_fn is None:
            penalty, total = jnp.zeros((), jnp.float32), d_loss
        else:
            penalty_apply = lambda p, x: model.discriminate(p, d_collections, x)[0]
            penalty = model.penalty_fn(penalty_apply, d_params, real, fake, _key(state, _D_PENALTY, i))
            total = d_loss + state.hparams["penalty_weight"] * penalty
        aux = (updated, d_loss, penalty, jnp.mean(real_logits), jnp.mean(fake_logits))
        return total, aux

    grads, aux = jax.grad(d_objective, has_aux=True)(state.d.params)
    updated, d_loss, penalty, real_mean, fake_mean = aux
    d = state.d.apply_gradients(grads).with_norm_collections(updated)
    if model.d_projection is not None:
        d = d.replace(params=model.d_projection(d.params, state.hparams))
    state = state.replace(d=d)
    return state, {"d_loss": d_loss, "penalty": penalty, "d_real": real_mean, "d_fake": fake_mean}


def _g_update(model: GANModel, state: GANState, real):
    z = model.sample_z(_key(state, _G_Z), real.shape[0])

    def g_objective(g_params):
        fake, g_updated = model.generate(g_params, state.g.norm_collections, z, train=True)
        # As in compare_gan, D sees real and fake together here too (relativistic losses need the real
        # logits) and its normalization collections advance with this pass.
        logits, d_updated = model.discriminate(state.d.params, state.d.norm_collections,
                                               jnp.concatenate([real, fake]))
        real_logits, fake_logits = jnp.split(logits, 2)
        _, g_loss = model.loss_fn(real_logits, fake_logits)
        return g_loss, (g_updated, d_updated, g_loss)

    grads, (g_updated, d_updated, g_loss) = jax.grad(g_objective, has_aux=True)(state.g.params)
    g = state.g.apply_gradients(grads).with_norm_collections(g_updated)
    decay = state.hparams["ema_decay"]
    ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, g.params)
    state = state.replace(g=g, d=state.d.with_norm_collections(d_updated), ema_params=ema)
    return state, {"g_loss": g_loss}


def train_step(model: GANModel, state: GANState, real):
    """One generator step with `model.n_disc` discriminator steps before it. real: [n_disc, B, ...]."""
    if real.shape[0] != model.n_disc:
        raise ValueError(f"train_step: real has {real.shape[0]} batches, expected n_disc={model.n_disc}")
    old = state
    logs = []
    for i in range(model.n_disc):  # unrolled: n_disc is small and static
        state, d_logs = _d_update(model, state, real[i], i)
        logs.append(d_logs)
    state, g_logs = _g_update(model, state, real[-1])
    metrics = {k: jnp.mean(jnp.stack([l[k] for l in logs])) for k in logs[0]}
    metrics.update(g_logs)
    finite = jnp.isfinite(metrics["d_loss"]) & jnp.isfinite(metrics["g_loss"])
    # A diverged trial keeps its last finite state (and in a population does not disturb the others).
    state = jax.tree_util.tree_map(lambda new, prev: jnp.where(finite, new, prev), state, old)
    nonfinite = jnp.where((old.nonfinite_step < 0) & ~finite, old.step, old.nonfinite_step)
    state = state.replace(step=old.step + 1, nonfinite_step=nonfinite)
    return state, metrics
