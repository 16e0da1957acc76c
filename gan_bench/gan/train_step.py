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

Class conditioning and auxiliary heads (gan/auxiliary.py): `train_step(model, state, real, labels)` takes the
real batches' labels [n_disc, B]; G's labels are drawn uniformly (`fold_in` purposes of their own) and go with
the fakes into D's batch; AC-GAN's class head and SS-GAN's rotation head add their cross-entropies to D's and
G's losses. G's EMA may start late (`GANModel.ema_start`, BigGAN's ema_start): before G's update number
ema_start it copies G's weights. A trial without labels, heads or a late EMA computes what it did before.
"""
import dataclasses
from typing import Any, Callable, Optional, Tuple

import flax
import gin
import jax
import jax.numpy as jnp
import optax

from gan_bench.gan import auxiliary, objective
from gan_bench.gan.penalties import PenaltyFn, ProjectionFn
from gan_bench.gan.state import GANState

# Purposes of random draws (fold_in constants), so no two uses ever share a key.
_D_Z, _D_PENALTY, _G_Z = 1, 2, 3
_D_AUGMENT, _G_AUGMENT, _D_REGULARIZER, _G_REGULARIZER = 4, 5, 6, 7
_D_LABELS, _G_LABELS = 8, 9  # G's class labels in D's updates and in G's
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

    Conditioning (gan/auxiliary.py): `num_classes` of the data; `g_labels` / `d_labels` say whether G / D are
    called with labels (`y=`), `class_head` (AC-GAN, weighted by `ac_weight`) and `rotation` (SS-GAN) which
    heads D sows. `ema_start`: G's update number from which the EMA averages (before it, it copies G).
    `truncation` (> 0): the threshold of the truncation trick, applied where samples are drawn for
    evaluation (`sample_z(..., truncated=True)`), never in training. `lr_factor`: the learning-rate schedule's
    `step -> factor` (gan/schedules.py; None: the optimizers' rates are left as they are).
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
    num_classes: int = 0
    g_labels: bool = False
    d_labels: bool = False
    class_head: bool = False
    rotation: bool = False
    ac_weight: float = 1.0
    ema_start: int = 0
    truncation: float = 0.0
    lr_factor: Optional[Callable] = None

    def __post_init__(self):
        step_options(self.update_order, self.g_bn_per_pack_slot)
        if self.update_order == "simultaneous" and self.n_disc != 1:
            raise ValueError(f"gan_step.update_order = 'simultaneous' needs trial.n_disc = 1, got {self.n_disc}")
        problems = objective.model_problems(self) + self._conditioning_problems()
        if problems:
            raise ValueError("; ".join(problems))

    def _conditioning_problems(self):
        out = []
        if (self.labelled or self.rotation) and self.update_order != "alternating":
            out.append("class conditioning and trial.self_supervision run in the alternating step only "
                       f"(gan_step.update_order = {self.update_order!r})")
        if self.labelled and self.num_classes < 2:
            out.append(f"class conditioning needs a dataset with at least 2 classes; num_classes = {self.num_classes}")
        if self.class_head and not self.d_labels:
            out.append("the AC-GAN class head needs D's labels (d_labels)")
        if self.rotation and (len(self.data_shape) != 3 or self.data_shape[0] != self.data_shape[1]):
            out.append(f"trial.self_supervision = 'rotation' rotates square images [H, H, C]; this dataset's "
                       f"examples have shape {tuple(self.data_shape)}")
        return out

    @property
    def labelled(self) -> bool:
        """Whether the step needs class labels (G or D takes them)."""
        return self.g_labels or self.d_labels

    @property
    def has_heads(self) -> bool:
        return self.class_head or self.rotation

    def sample_labels(self, key, n):
        """n labels for G drawn uniformly from the classes; None when the trial has no labels."""
        return auxiliary.sample_labels(key, n, self.num_classes) if self.labelled else None

    def _g_kwargs(self, y):
        return {"y": y} if self.g_labels and y is not None else {}

    def _d_kwargs(self, y):
        return {"y": y} if self.d_labels and y is not None else {}

    @property
    def d_input_shape(self):
        """D's per-example input shape after PacGAN packing along the last (channel/feature) axis."""
        return self.data_shape[:-1] + (self.data_shape[-1] * self.pack,)

    def sample_z(self, key, n, truncated: bool = False):
        """n latents; `truncated` (evaluation and samples): values beyond `truncation` redrawn (`truncate`)."""
        z = self._draw_z(key, (n, self.z_dim))
        if truncated and self.truncation > 0:
            z = truncate(z, self.truncation, lambda k: self._draw_z(k, (n, self.z_dim)),
                         jax.random.fold_in(key, _TRUNCATION))
        return z

    def _draw_z(self, key, shape):
        if self.z_dist == "normal":
            return jax.random.normal(key, shape, jnp.float32)
        return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)

    def pack_batch(self, x):
        """PacGAN (Lin et al. 2018): concatenate `pack` consecutive samples along the last axis."""
        if self.pack == 1:
            return x
        b = x.shape[0]
        x = x.reshape((b // self.pack, self.pack) + x.shape[1:])
        x = jnp.moveaxis(x, 1, -2)  # [B/m, ..., m, C]
        return x.reshape(x.shape[:-2] + (x.shape[-2] * x.shape[-1],))

    def generate(self, params, norm_collections, z, train=False, y=None):
        """G(z, y) with G's normalization collections (`NetworkState.norm_collections`); in training mode,
        returns (samples, updated collections). `y` reaches G only when G takes labels."""
        variables = {"params": params, **norm_collections}
        if train:
            return self.generator.apply(variables, z, train=True, mutable=list(norm_collections), **self._g_kwargs(y))
        return self.generator.apply(variables, z, train=False, **self._g_kwargs(y))

    def generate_fakes(self, params, norm_collections, key, n, y=None):
        """n training-mode samples of G from z drawn with `key`: (samples, updated collections).

        With `g_bn_per_pack_slot`, z is read as [bn_groups, pack, n / (bn_groups * pack)] and G normalizes each
        slot's rows on their own; the samples are then interleaved so that `pack_batch` puts slot j's sample
        at position j of every packed input.
        """
        z = self.sample_z(key, n)
        if not self.g_bn_per_pack_slot or self.pack == 1:
            return self.generate(params, norm_collections, z, train=True, y=y)
        groups, m = self.generator.bn_groups, self.pack
        if n % (groups * m):
            raise ValueError(f"per-slot batch norm: batch {n} is not divisible by bn_groups * pack = {groups * m}")
        generator = self.generator.clone(bn_groups=groups * m)
        fake, updated = generator.apply({"params": params, **norm_collections}, z, train=True,
                                        mutable=list(norm_collections))
        fake = fake.reshape((groups, m, n // (groups * m)) + fake.shape[1:])
        return jnp.swapaxes(fake, 1, 2).reshape((n,) + fake.shape[3:]), updated

    def discriminate(self, params, norm_collections, x, train=True, y=None):
        """D logits for unpacked samples x [B, ...]; returns (logits [B/pack], updated normalization collections).
        `y` reaches D only when D takes labels."""
        variables = {"params": params, **norm_collections}
        logits, updated = self.discriminator.apply(
            variables, self.pack_batch(x), train=train, mutable=list(norm_collections), **self._d_kwargs(y))
        return logits, flax.core.unfreeze(updated)

    def discriminate_heads(self, params, norm_collections, x, y=None):
        """Training-mode D on x (no packing: heads exclude it) with its sown auxiliary heads:
        (logits [B], {"class_logits": [B, C], "rotation_logits": [B, 4]} as D has them, updated collections)."""
        variables = {"params": params, **norm_collections}
        logits, updated = self.discriminator.apply(variables, x, train=True,
                                                   mutable=list(norm_collections) + ["heads"], **self._d_kwargs(y))
        updated = dict(flax.core.unfreeze(updated))
        heads = {name: values[0] for name, values in updated.pop("heads", {}).items()}
        return logits, heads, updated


_TRUNCATION = 0x7C0A  # fold_in purpose of the truncation trick's redraws


def truncate(z, threshold, draw, key):
    """The truncation trick (Brock et al. 2019): every value of z with |value| > threshold is replaced by a new
    draw until all lie within; values within are kept as they are. `draw(key)` gives a fresh array like z;
    redraw r uses `fold_in(key, r)`."""
    def outside(carry):
        return jnp.any(jnp.abs(carry[1]) > threshold)

    def redraw(carry):
        r, values = carry
        return r + 1, jnp.where(jnp.abs(values) > threshold, draw(jax.random.fold_in(key, r)), values)

    return jax.lax.while_loop(outside, redraw, (jnp.zeros((), jnp.int32), z))[1]


def _rate(model: GANModel, state: GANState, which: str):
    """The scheduled learning rate of network `which` ('g' or 'd') in this step, or None without a schedule."""
    if model.lr_factor is None:
        return None
    return state.hparams[f"{which}_lr"] * model.lr_factor(state.step)


def _key(state: GANState, purpose: int, sub: int = 0):
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.key, state.step), purpose), sub)


def labels_like(x, y_real, y_fake):
    """The labels of a batch D judges outside the main pass (a penalty's): the real labels for B images, as
    compare_gan's penalties (`functools.partial(discriminator, y=y)`), [y_real; y_fake] for 2B; None without."""
    if y_real is None:
        return None
    if x.shape[0] == y_real.shape[0]:
        return y_real
    if x.shape[0] == 2 * y_real.shape[0]:
        return jnp.concatenate([y_real, y_fake])
    raise ValueError(f"no labels for a batch of {x.shape[0]} images judged beside {y_real.shape[0]} real ones")


def _with_penalty(model: GANModel, state: GANState, d_params, d_collections, d_loss, real, fake, key,
                  y_real=None, y_fake=None):
    """(penalty, D's loss plus the weighted penalty); a zero penalty when the trial has none."""
    if model.penalty_fn is None:
        return jnp.zeros((), jnp.float32), d_loss
    penalty_apply = lambda p, x: model.discriminate(p, d_collections, x, y=labels_like(x, y_real, y_fake))[0]
    penalty = model.penalty_fn(penalty_apply, d_params, real, fake, key)
    return penalty, d_loss + state.hparams["penalty_weight"] * penalty


def _judge(model: GANModel, d_params, d_collections, real, fake, y_real, y_fake):
    """D's pass over [real; fake] (with their labels and rotated copies where the trial has them):
    (auxiliary.Judgement, D's updated collections). Without heads: the plain pass of an unconditional trial."""
    if not model.has_heads:
        y = None if y_real is None else jnp.concatenate([y_real, y_fake])
        logits, updated = model.discriminate(d_params, d_collections, jnp.concatenate([real, fake]), y=y)
        real_logits, fake_logits = jnp.split(logits, 2)
        return auxiliary.Judgement(real_logits, fake_logits, {}), updated
    heads = lambda x, y: model.discriminate_heads(d_params, d_collections, x, y)
    return auxiliary.judge(heads, real, fake, y_real, y_fake, model.rotation, model.class_head)


def _d_update(model: GANModel, state: GANState, real, i, y_real=None):
    b = real.shape[0]
    y_fake = model.sample_labels(_key(state, _D_LABELS, i), b)
    fake, _ = model.generate_fakes(state.g.params, state.g.norm_collections, _key(state, _D_Z, i), b, y=y_fake)
    fake = jax.lax.stop_gradient(fake)
    d_collections = state.d.norm_collections
    augment = objective.Augmenter(model.augment, state.objective_state, _key(state, _D_AUGMENT, i), real, fake)
    real, fake = augment.real, augment.fake  # as D sees them (the same arrays without augmentation)

    def d_objective(d_params):
        judged, updated = _judge(model, d_params, d_collections, real, fake, y_real, y_fake)
        real_logits, fake_logits = judged.real_logits, judged.fake_logits
        d_loss, _ = model.loss_fn(real_logits, fake_logits)
        penalty, total = _with_penalty(model, state, d_params, d_collections, d_loss, real, fake,
                                       _key(state, _D_PENALTY, i), y_real, y_fake)
        if judged.aux:
            total = total + auxiliary.d_aux_term(judged.aux, model.ac_weight)
        total, objective_state, extra_logs = objective.with_d_terms(
            model, state, total, augment, d_params, d_collections, real_logits, fake_logits,
            z_key=_key(state, _D_Z, i), key=_key(state, _D_REGULARIZER, i), labels=(y_real, y_fake))
        aux = (updated, d_loss, penalty, jnp.mean(real_logits), jnp.mean(fake_logits), objective_state,
               {**extra_logs, **judged.aux})
        return total, aux

    grads, aux = jax.grad(d_objective, has_aux=True)(state.d.params)
    updated, d_loss, penalty, real_mean, fake_mean, objective_state, extra_logs = aux
    d = state.d.apply_gradients(grads, _rate(model, state, "d")).with_norm_collections(updated)
    if model.d_projection is not None:
        d = d.replace(params=model.d_projection(d.params, state.hparams))
    state = state.replace(d=d, objective_state=objective_state)
    return state, {"d_loss": d_loss, "penalty": penalty, "d_real": real_mean, "d_fake": fake_mean, **extra_logs}


def _ema(model: GANModel, state: GANState, g_params):
    """G's EMA after this step's update of G: decay * ema + (1 - decay) * params; before G's update number
    `model.ema_start` (this step's is state.step + 1, as BigGAN counts) a copy of G (decay 0)."""
    decay = state.hparams["ema_decay"]
    if model.ema_start > 0:
        decay = jnp.where(state.step + 1 >= model.ema_start, decay, jnp.zeros_like(decay))
    return jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, g_params)


def _g_update(model: GANModel, state: GANState, real, y_real=None):
    y_fake = model.sample_labels(_key(state, _G_LABELS), real.shape[0])

    def g_objective(g_params):
        fake, g_updated = model.generate_fakes(g_params, state.g.norm_collections, _key(state, _G_Z),
                                               real.shape[0], y=y_fake)
        # As in compare_gan, D sees real and fake together here too (relativistic losses need the real
        # logits) and its normalization collections advance with this pass.
        seen = objective.Augmenter(model.augment, state.objective_state, _key(state, _G_AUGMENT), real, fake)
        judged, d_updated = _judge(model, state.d.params, state.d.norm_collections, seen.real, seen.fake,
                                   y_real, y_fake)
        real_logits, fake_logits = judged.real_logits, judged.fake_logits
        g_loss, total, extra_logs = objective.generator_objective(
            model, state, g_params, fake, real_logits, fake_logits, z_key=_key(state, _G_Z),
            key=_key(state, _G_REGULARIZER), labels=y_fake)
        if judged.aux:
            total = total + auxiliary.g_aux_term(judged.aux, model.ac_weight)
            extra_logs = {**extra_logs, **{f"g_{k}": v for k, v in judged.aux.items() if k.endswith("_fake")}}
        return total, (g_updated, d_updated, g_loss, extra_logs)

    grads, (g_updated, d_updated, g_loss, extra_logs) = jax.grad(g_objective, has_aux=True)(state.g.params)
    g = state.g.apply_gradients(grads, _rate(model, state, "g")).with_norm_collections(g_updated)
    state = state.replace(g=g, d=state.d.with_norm_collections(d_updated), ema_params=_ema(model, state, g.params))
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
    d = state.d.apply_gradients(d_grads, _rate(model, state, "d")).with_norm_collections(d_updated)
    if model.d_projection is not None:
        d = d.replace(params=model.d_projection(d.params, state.hparams))
    g = state.g.apply_gradients(g_grads, _rate(model, state, "g")).with_norm_collections(g_updated)
    state = state.replace(g=g, d=d, ema_params=_ema(model, state, g.params))
    return state, {"d_loss": d_loss, "penalty": penalty, "d_real": real_mean, "d_fake": fake_mean,
                   "g_loss": g_loss}


def train_step(model: GANModel, state: GANState, real, labels=None):
    """One generator step with `model.n_disc` discriminator steps before it. real: [n_disc, B, ...]; labels:
    their int labels [n_disc, B] (needed exactly when the model takes labels)."""
    if real.shape[0] != model.n_disc:
        raise ValueError(f"train_step: real has {real.shape[0]} batches, expected n_disc={model.n_disc}")
    if model.labelled != (labels is not None):
        raise ValueError("train_step: labels must be given exactly when G or D is conditioned on classes "
                         f"(conditional: {model.labelled}, labels given: {labels is not None})")
    if labels is not None and tuple(labels.shape) != tuple(real.shape[:2]):
        raise ValueError(f"train_step: labels have shape {tuple(labels.shape)}, expected {tuple(real.shape[:2])}")
    old = state
    if model.update_order == "simultaneous":
        state, metrics = _simultaneous_update(model, state, real[0])
        return _finish_step(old, state, metrics)
    logs = []
    for i in range(model.n_disc):  # unrolled: n_disc is small and static
        state, d_logs = _d_update(model, state, real[i], i, None if labels is None else labels[i])
        logs.append(d_logs)
    state, g_logs = _g_update(model, state, real[-1], None if labels is None else labels[-1])
    metrics = {k: jnp.mean(jnp.stack([l[k] for l in logs])) for k in logs[0]}
    metrics.update(g_logs)
    state = state.replace(objective_state=objective.end_step(model, state, real.shape[1]))
    finite = objective.logs_finite(model, metrics)
    if model.has_heads:  # a NaN head loss moves the weights though the adversarial losses stay finite
        for key in auxiliary.LOG_KEYS:
            if key in metrics:
                finite = finite & jnp.all(jnp.isfinite(metrics[key]))
    state, metrics = _finish_step(old, state, metrics, finite)
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
