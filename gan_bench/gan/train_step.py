"""One training step of a GAN: `n_disc` discriminator updates, then one generator update.

`train_step(model, state, real) -> (state, metrics)` is pure and jittable. `real` holds the `n_disc` real
batches of this step, `[n_disc, B, *data_shape]`. Every random draw is `fold_in(state.key, step, purpose)`,
so the result depends on (seed, step) only: the same on 1 or N devices and after a resume. The step is
written for a single trial; `jax.vmap(partial(train_step, model))` trains a population (leading axis on
`state` and `real`), and sharding the batch axis of `real` over devices makes it data-parallel.

The discriminator sees real and fake samples in one concatenated batch, as compare_gan does, so batch-norm
statistics and the spectral-norm power iteration see both; the generator step reuses the last real batch.
"""
import dataclasses
from typing import Any, Callable, Tuple

import flax
import jax
import jax.numpy as jnp
import optax

from gan_bench.gan.state import GANState, make_optimizer

# Purposes of random draws (fold_in constants), so no two uses ever share a key.
_D_Z, _D_PENALTY, _G_Z = 1, 2, 3


@dataclasses.dataclass(frozen=True)
class GANModel:
    """The static (compile-time) part of a trial: networks, objective and shapes."""

    generator: Any
    discriminator: Any
    loss_fn: Callable
    penalty_fn: Callable
    z_dim: int
    z_dist: str
    n_disc: int
    pack: int
    data_shape: Tuple[int, ...]
    optimizer: str
    clip_weights: bool
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

    def generate(self, params, g_state, z, train=False):
        variables = {"params": params, **g_state}
        if train:
            return self.generator.apply(variables, z, train=True, mutable=list(g_state))
        return self.generator.apply(variables, z, train=False)

    def discriminate(self, params, d_state, x, train=True):
        """D logits for unpacked samples x [B, ...]; returns (logits [B/pack], updated normalization state)."""
        variables = {"params": params, **d_state}
        logits, new_state = self.discriminator.apply(
            variables, self.pack_batch(x), train=train, mutable=list(d_state))
        return logits, flax.core.unfreeze(new_state)


def _key(state: GANState, purpose: int, sub: int = 0):
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.key, state.step), purpose), sub)


def _d_update(model: GANModel, state: GANState, real, i):
    b = real.shape[0]
    z = model.sample_z(_key(state, _D_Z, i), b)
    fake, _ = model.generate(state.g_params, state.g_state, z, train=True)
    fake = jax.lax.stop_gradient(fake)

    def d_objective(d_params):
        logits, new_d_state = model.discriminate(d_params, state.d_state, jnp.concatenate([real, fake]))
        real_logits, fake_logits = jnp.split(logits, 2)
        d_loss, _ = model.loss_fn(real_logits, fake_logits)
        penalty_apply = lambda p, x: model.discriminate(p, state.d_state, x)[0]
        penalty = model.penalty_fn(penalty_apply, d_params, real, fake, _key(state, _D_PENALTY, i))
        total = d_loss + state.hparams["penalty_weight"] * penalty
        aux = (new_d_state, d_loss, penalty, jnp.mean(real_logits), jnp.mean(fake_logits))
        return total, aux

    grads, aux = jax.grad(d_objective, has_aux=True)(state.d_params)
    new_d_state, d_loss, penalty, real_mean, fake_mean = aux
    tx = make_optimizer(model.optimizer, 0.0, 0.0, 0.0)  # values come from the optimizer state
    updates, d_opt = tx.update(grads, state.d_opt, state.d_params)
    d_params = optax.apply_updates(state.d_params, updates)
    if model.clip_weights:
        c = state.hparams["clip_value"]
        d_params = jax.tree_util.tree_map(lambda w: jnp.clip(w, -c, c), d_params)
    state = state.replace(d_params=d_params, d_state=new_d_state, d_opt=d_opt)
    return state, {"d_loss": d_loss, "penalty": penalty, "d_real": real_mean, "d_fake": fake_mean}


def _g_update(model: GANModel, state: GANState, real):
    z = model.sample_z(_key(state, _G_Z), real.shape[0])

    def g_objective(g_params):
        fake, new_g_state = model.generate(g_params, state.g_state, z, train=True)
        # As in compare_gan, D sees real and fake together here too (relativistic losses need the real
        # logits) and its normalization state advances with this pass.
        logits, new_d_state = model.discriminate(state.d_params, state.d_state, jnp.concatenate([real, fake]))
        real_logits, fake_logits = jnp.split(logits, 2)
        _, g_loss = model.loss_fn(real_logits, fake_logits)
        return g_loss, (new_g_state, new_d_state, g_loss)

    grads, (new_g_state, new_d_state, g_loss) = jax.grad(g_objective, has_aux=True)(state.g_params)
    tx = make_optimizer(model.optimizer, 0.0, 0.0, 0.0)
    updates, g_opt = tx.update(grads, state.g_opt, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    decay = state.hparams["ema_decay"]
    ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, g_params)
    state = state.replace(g_params=g_params, g_state=flax.core.unfreeze(new_g_state), g_opt=g_opt,
                          d_state=new_d_state, ema_params=ema)
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
