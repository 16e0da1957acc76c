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

Two choices of PacGAN's protocol (Lin et al. 2018, whose code trains with ALI's algorithm), gin keys of
`gan_step` read when a `GANModel` is built:
- `gan_step.update_order = 'simultaneous'`: one pass of G and D on one real batch and one z draw gives both
  losses, and both gradients are taken at the parameters before the step (ALI, Dumoulin et al. 2017);
  needs n_disc = 1. 'alternating' (default) is the D-then-G loop above.
- `gan_step.g_bn_per_pack_slot = True`: with pack m, G's batch-norm statistics are computed separately for
  each pack slot (the m samples packed into one D input come from m separately normalized G batches, as
  PacGAN's m generator calls); the running averages move towards the slots' mean statistics.

Regularizers and an augmentation (`trial.regularizers`, `trial.augment`; gan/objective.py) hook in at fixed
places of the alternating step: the augmentation transforms the real and fake images before every pass of D
(D's updates and G's; the penalty sees them as D saw them), D's regularizer terms join its loss after the
penalty, G's join its loss, top-k may replace G's adversarial loss, and their state (`objective_state`: ADA's p,
LeCam's anchors) moves after each of D's updates and at the end of the step. Without them the step computes
what it computed before they existed.
"""
import dataclasses
from typing import Any, Callable, Optional, Tuple

import flax
import gin
import jax
import jax.numpy as jnp
import optax

from gan_bench.gan import objective
from gan_bench.gan.penalties import PenaltyFn, ProjectionFn
from gan_bench.gan.state import GANState

# Purposes of random draws (fold_in constants), so no two uses ever share a key.
_D_Z, _D_PENALTY, _G_Z = 1, 2, 3
_D_AUGMENT, _G_AUGMENT, _D_REGULARIZER, _G_REGULARIZER = 4, 5, 6, 7
UPDATE_ORDERS = ("alternating", "simultaneous")


@gin.configurable("gan_step")
def step_options(update_order: str = "alternating", g_bn_per_pack_slot: bool = False) -> dict:
    """The step's protocol choices (module docstring), checked; the defaults are GANModel's."""
    if update_order not in UPDATE_ORDERS:
        raise ValueError(f"gan_step.update_order = {update_order!r}; expected one of {', '.join(UPDATE_ORDERS)}")
    if not isinstance(g_bn_per_pack_slot, bool):
        raise ValueError(f"gan_step.g_bn_per_pack_slot = {g_bn_per_pack_slot!r}; expected True or False")
    return {"update_order": update_order, "g_bn_per_pack_slot": g_bn_per_pack_slot}


@dataclasses.dataclass(frozen=True)
class GANModel:
    """The static (compile-time) part of a trial: networks, objective, optimizers and shapes.

    `penalty_fn` is D's loss term (None: no term, logged as 0) and `d_projection` the constraint applied to
    D's parameters after each of D's updates (None: no constraint); see `penalties.d_regularizer`.
    `g_tx`/`d_tx` are the optimizers `init_state` hands to the networks' states. `update_order` and
    `g_bn_per_pack_slot` default to the gin-bound `step_options()` (module docstring). `regularizers` and
    `augment` default to the gin-bound `trial.regularizers` and `trial.augment` (gan/objective.py), checked
    against the data shape, the loss and the step's options when the model is built.
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
    update_order: str = dataclasses.field(default_factory=lambda: step_options()["update_order"])
    g_bn_per_pack_slot: bool = dataclasses.field(default_factory=lambda: step_options()["g_bn_per_pack_slot"])
    regularizers: Tuple[Any, ...] = dataclasses.field(default_factory=objective.configured_regularizers)
    augment: Optional[Any] = dataclasses.field(default_factory=objective.configured_augmentation)

    def __post_init__(self):
        step_options(self.update_order, self.g_bn_per_pack_slot)
        if self.update_order == "simultaneous" and self.n_disc != 1:
            raise ValueError(f"gan_step.update_order = 'simultaneous' needs trial.n_disc = 1, got {self.n_disc}")
        problems = objective.model_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

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

    def generate_fakes(self, params, norm_collections, key, n):
        """n training-mode samples of G from z drawn with `key`: (samples, updated collections).

        With `g_bn_per_pack_slot`, z is read as [bn_groups, pack, n / (bn_groups * pack)] and G normalizes each
        slot's rows on their own; the samples are then interleaved so that `pack_batch` puts slot j's sample
        at position j of every packed input.
        """
        z = self.sample_z(key, n)
        if not self.g_bn_per_pack_slot or self.pack == 1:
            return self.generate(params, norm_collections, z, train=True)
        groups, m = self.generator.bn_groups, self.pack
        if n % (groups * m):
            raise ValueError(f"per-slot batch norm: batch {n} is not divisible by bn_groups * pack = {groups * m}")
        generator = self.generator.clone(bn_groups=groups * m)
        fake, updated = generator.apply({"params": params, **norm_collections}, z, train=True,
                                        mutable=list(norm_collections))
        fake = fake.reshape((groups, m, n // (groups * m)) + fake.shape[1:])
        return jnp.swapaxes(fake, 1, 2).reshape((n,) + fake.shape[3:]), updated

    def discriminate(self, params, norm_collections, x, train=True):
        """D logits for unpacked samples x [B, ...]; returns (logits [B/pack], updated normalization collections)."""
        variables = {"params": params, **norm_collections}
        logits, updated = self.discriminator.apply(
            variables, self.pack_batch(x), train=train, mutable=list(norm_collections))
        return logits, flax.core.unfreeze(updated)


def _key(state: GANState, purpose: int, sub: int = 0):
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.key, state.step), purpose), sub)


def _with_penalty(model: GANModel, state: GANState, d_params, d_collections, d_loss, real, fake, key):
    """(penalty, D's loss plus the weighted penalty); a zero penalty when the trial has none."""
    if model.penalty_fn is None:
        return jnp.zeros((), jnp.float32), d_loss
    penalty_apply = lambda p, x: model.discriminate(p, d_collections, x)[0]
    penalty = model.penalty_fn(penalty_apply, d_params, real, fake, key)
    return penalty, d_loss + state.hparams["penalty_weight"] * penalty


def _d_update(model: GANModel, state: GANState, real, i):
    b = real.shape[0]
    fake, _ = model.generate_fakes(state.g.params, state.g.norm_collections, _key(state, _D_Z, i), b)
    fake = jax.lax.stop_gradient(fake)
    d_collections = state.d.norm_collections
    augment = objective.Augmenter(model.augment, state.objective_state, _key(state, _D_AUGMENT, i), real, fake)
    real, fake = augment.real, augment.fake  # as D sees them (the same arrays without augmentation)

    def d_objective(d_params):
        logits, updated = model.discriminate(d_params, d_collections, jnp.concatenate([real, fake]))
        real_logits, fake_logits = jnp.split(logits, 2)
        d_loss, _ = model.loss_fn(real_logits, fake_logits)
        penalty, total = _with_penalty(model, state, d_params, d_collections, d_loss, real, fake,
                                       _key(state, _D_PENALTY, i))
        total, objective_state, extra_logs = objective.with_d_terms(
            model, state, total, augment, d_params, d_collections, real_logits, fake_logits,
            z_key=_key(state, _D_Z, i), key=_key(state, _D_REGULARIZER, i))
        aux = (updated, d_loss, penalty, jnp.mean(real_logits), jnp.mean(fake_logits), objective_state, extra_logs)
        return total, aux

    grads, aux = jax.grad(d_objective, has_aux=True)(state.d.params)
    updated, d_loss, penalty, real_mean, fake_mean, objective_state, extra_logs = aux
    d = state.d.apply_gradients(grads).with_norm_collections(updated)
    if model.d_projection is not None:
        d = d.replace(params=model.d_projection(d.params, state.hparams))
    state = state.replace(d=d, objective_state=objective_state)
    return state, {"d_loss": d_loss, "penalty": penalty, "d_real": real_mean, "d_fake": fake_mean, **extra_logs}


def _g_update(model: GANModel, state: GANState, real):
    def g_objective(g_params):
        fake, g_updated = model.generate_fakes(g_params, state.g.norm_collections, _key(state, _G_Z),
                                               real.shape[0])
        # As in compare_gan, D sees real and fake together here too (relativistic losses need the real
        # logits) and its normalization collections advance with this pass.
        seen = objective.Augmenter(model.augment, state.objective_state, _key(state, _G_AUGMENT), real, fake)
        logits, d_updated = model.discriminate(state.d.params, state.d.norm_collections,
                                               jnp.concatenate([seen.real, seen.fake]))
        real_logits, fake_logits = jnp.split(logits, 2)
        g_loss, total, extra_logs = objective.generator_objective(
            model, state, g_params, fake, real_logits, fake_logits, z_key=_key(state, _G_Z),
            key=_key(state, _G_REGULARIZER))
        return total, (g_updated, d_updated, g_loss, extra_logs)

    grads, (g_updated, d_updated, g_loss, extra_logs) = jax.grad(g_objective, has_aux=True)(state.g.params)
    g = state.g.apply_gradients(grads).with_norm_collections(g_updated)
    decay = state.hparams["ema_decay"]
    ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, g.params)
    state = state.replace(g=g, d=state.d.with_norm_collections(d_updated), ema_params=ema)
    return state, {"g_loss": g_loss, **extra_logs}


def _simultaneous_update(model: GANModel, state: GANState, real):
    """ALI's update: D's and G's losses from one pass (one real batch, one z draw), both gradients at the
    parameters before the step, then both optimizer updates; G's EMA follows as after `_g_update`."""
    d_collections = state.d.norm_collections

    def losses(d_params, g_params):
        fake, g_updated = model.generate_fakes(g_params, state.g.norm_collections, _key(state, _D_Z),
                                               real.shape[0])
        logits, d_updated = model.discriminate(d_params, d_collections, jnp.concatenate([real, fake]))
        real_logits, fake_logits = jnp.split(logits, 2)
        d_loss, g_loss = model.loss_fn(real_logits, fake_logits)
        penalty, d_total = _with_penalty(model, state, d_params, d_collections, d_loss, real,
                                         jax.lax.stop_gradient(fake), _key(state, _D_PENALTY))
        aux = (g_updated, d_updated, d_loss, g_loss, penalty, jnp.mean(real_logits), jnp.mean(fake_logits))
        return (d_total, g_loss), aux

    _, vjp, aux = jax.vjp(losses, state.d.params, state.g.params, has_aux=True)
    one, zero = jnp.ones((), jnp.float32), jnp.zeros((), jnp.float32)
    d_grads = vjp((one, zero))[0]
    g_grads = vjp((zero, one))[1]
    g_updated, d_updated, d_loss, g_loss, penalty, real_mean, fake_mean = aux
    d = state.d.apply_gradients(d_grads).with_norm_collections(d_updated)
    if model.d_projection is not None:
        d = d.replace(params=model.d_projection(d.params, state.hparams))
    g = state.g.apply_gradients(g_grads).with_norm_collections(g_updated)
    decay = state.hparams["ema_decay"]
    ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, g.params)
    state = state.replace(g=g, d=d, ema_params=ema)
    return state, {"d_loss": d_loss, "penalty": penalty, "d_real": real_mean, "d_fake": fake_mean,
                   "g_loss": g_loss}


def train_step(model: GANModel, state: GANState, real):
    """One generator step with `model.n_disc` discriminator steps before it. real: [n_disc, B, ...]."""
    if real.shape[0] != model.n_disc:
        raise ValueError(f"train_step: real has {real.shape[0]} batches, expected n_disc={model.n_disc}")
    old = state
    if model.update_order == "simultaneous":
        state, metrics = _simultaneous_update(model, state, real[0])
        return _finish_step(old, state, metrics)
    logs = []
    for i in range(model.n_disc):  # unrolled: n_disc is small and static
        state, d_logs = _d_update(model, state, real[i], i)
        logs.append(d_logs)
    state, g_logs = _g_update(model, state, real[-1])
    metrics = {k: jnp.mean(jnp.stack([l[k] for l in logs])) for k in logs[0]}
    metrics.update(g_logs)
    state = state.replace(objective_state=objective.end_step(model, state, real.shape[1]))
    state, metrics = _finish_step(old, state, metrics, objective.logs_finite(model, metrics))
    metrics.update(objective.augmentation_logs(model, state))  # the kept state's (after a masked step: the old)
    return state, metrics


def _finish_step(old: GANState, state: GANState, metrics, also_finite=True):
    """The step's state, or the state before it where a loss (or `also_finite`) is not finite; the step counter
    advances."""
    finite = jnp.isfinite(metrics["d_loss"]) & jnp.isfinite(metrics["g_loss"]) & also_finite
    # A diverged trial keeps its last finite state (and in a population does not disturb the others).
    state = jax.tree_util.tree_map(lambda new, prev: jnp.where(finite, new, prev), state, old)
    nonfinite = jnp.where((old.nonfinite_step < 0) & ~finite, old.step, old.nonfinite_step)
    state = state.replace(step=old.step + 1, nonfinite_step=nonfinite)
    return state, metrics
