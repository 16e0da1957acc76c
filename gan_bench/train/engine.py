"""What a run compiles: the model, the convolution choice, the sharded init and step, the real batches.

One `Engine` serves every member of a run (one member: a solo trial). It is built completely — data, nets,
convolution choice, compiled functions — before the first step, so a bad config or an impossible shape fails
before any training. Benchmarks time `Engine.step` directly, which is why the compile and sharding decisions
live here and not in the loop.
"""
import functools
from typing import List, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from gan_bench import data, nets, parallel, precision
from gan_bench.config import samples_per_step
from gan_bench.config import LABELLED_D, LABELLED_G, TrialConfig, uses_labels
from gan_bench.gan import schedules
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.penalties import d_regularizer
from gan_bench.gan.state import init_state, make_optimizers
from gan_bench.gan.train_step import GANModel, train_step
from gan_bench.train.evaluation import Evaluator


def num_classes_of(cfg: TrialConfig, dataset) -> int:
    """The classes a conditional trial's labels take (from the data); 0 for a trial without labels.

    ValueError, before anything is built, when the trial needs labels and the dataset has none.
    """
    if not uses_labels(cfg):
        return 0
    if dataset.num_classes is None:
        raise ValueError(f"trial.dataset = {cfg.dataset!r} has no class labels, but trial.g_conditioning = "
                         f"{cfg.g_conditioning!r} / trial.d_conditioning = {cfg.d_conditioning!r} need them; use "
                         f"labelled data or 'none' (self_mod for G needs no labels)")
    return int(dataset.num_classes)


def conditioning_kwargs(cfg: TrialConfig, num_classes: int) -> dict:
    """`nets.build`'s conditioning keywords for the trial; none for an unconditional trial without heads, so
    its nets are built exactly as before conditioning existed."""
    kwargs = {}
    if num_classes:
        kwargs["num_classes"] = num_classes
    if cfg.g_conditioning != "none":
        kwargs["g_conditioning"] = cfg.g_conditioning
    if cfg.d_conditioning != "none":
        kwargs["d_conditioning"] = cfg.d_conditioning
    if cfg.self_supervision == "rotation":
        kwargs["rotation_head"] = True
    return kwargs


def build_model(cfg: TrialConfig, dataset, bn_groups: int = 1, *, conv: nets.ConvImpl) -> GANModel:
    """The static part of the trial; raises ValueError for unknown names or impossible shapes.

    `dataset` only lends its example shape and its number of classes: the eval split serves as well as the
    train split.
    """
    loss_fn = LOSSES.get(cfg.loss)
    penalty_fn, d_projection = d_regularizer(cfg.penalty)  # weight clipping is a projection, not a term
    from gan_bench.metrics.evaluate import check_settings  # pylint: disable=import-outside-toplevel
    check_settings(cfg.metrics)  # an unknown metric or metric option fails now, not at the first evaluation
    num_classes = num_classes_of(cfg, dataset)
    generator, discriminator = nets.build(
        cfg.architecture, data_shape=tuple(dataset.shape), z_dim=cfg.z_dim, d_norm=cfg.d_norm,
        g_norm=cfg.g_norm, bn_groups=bn_groups, conv=conv, **conditioning_kwargs(cfg, num_classes))
    g_tx, d_tx = make_optimizers(cfg)
    return GANModel(generator=generator, discriminator=discriminator, loss_fn=loss_fn,
                    penalty_fn=penalty_fn, d_projection=d_projection, z_dim=cfg.z_dim, z_dist=cfg.z_dist,
                    n_disc=cfg.n_disc, pack=cfg.pack, data_shape=tuple(dataset.shape), g_tx=g_tx, d_tx=d_tx,
                    num_classes=num_classes, g_labels=cfg.g_conditioning in LABELLED_G,
                    d_labels=cfg.d_conditioning in LABELLED_D, class_head=cfg.d_conditioning == "ac",
                    rotation=cfg.self_supervision == "rotation", ac_weight=cfg.ac_weight, ema_start=cfg.ema_start,
                    truncation=cfg.truncation, lr_factor=schedules.factor_fn(cfg.lr_schedule, cfg.train_steps))


def bn_groups_of(cfg: TrialConfig) -> int:
    """Batch-norm statistics groups: one per device for `bn_stats = 'per_device'`, else one for the batch."""
    return jax.device_count() if cfg.bn_stats == "per_device" else 1


def real_batches(cfg: TrialConfig, dataset, step: int, rows: slice):
    """(images, labels) of the `n_disc` real batches of generator step `step`: images [n_disc, B_local, ...],
    labels int32 [n_disc, B_local] of the same examples (None when the trial uses no labels); a pure
    function of step."""
    images, labels = [], []
    for i in range(cfg.n_disc):
        idx = data.batch_indices(cfg.seed, step * cfg.n_disc + i, samples_per_step(cfg),
                                 dataset.num_examples)[rows]
        images.append(dataset.get(idx))
        if uses_labels(cfg):
            labels.append(dataset.labels(idx).astype(np.int32))
    return np.stack(images), (np.stack(labels) if labels else None)


class _WithLabels(nn.Module):
    """A conditional net called as an unconditional one (`net(x, train)`), with labels i mod C: what the
    convolution choice times has the training step's shapes and work."""

    net: nn.Module
    num_classes: int

    def __call__(self, x, train: bool):
        return self.net(x, train, y=jnp.arange(x.shape[0], dtype=jnp.int32) % self.num_classes)


def with_timing_labels(model: GANModel):
    """(G, D) as the convolution choice calls them: without labels; a net that reads labels gets them."""
    g, d = model.generator, model.discriminator
    if model.g_labels:
        g = _WithLabels(g, model.num_classes)
    if model.d_labels:
        d = _WithLabels(d, model.num_classes)
    return g, d


def choose_conv(cfg: TrialConfig, dataset, bn_groups: int, population: int, workdirs=()) -> nets.ConvChoice:
    """`trial.conv_impl` resolved once for the run's nets and shapes (population: members of a vmapped step,
    0 for a solo one; workdirs: trial folders whose recorded choice a resumed run keeps)."""
    def generator_and_discriminator(conv):
        model = build_model(cfg, dataset, bn_groups, conv=conv)
        return with_timing_labels(model)
    batch = samples_per_step(cfg)
    d_input = (2 * batch // cfg.pack,) + tuple(dataset.shape[:-1]) + (dataset.shape[-1] * cfg.pack,)
    return nets.choose_conv_impl(cfg.conv_impl, generator_and_discriminator, (batch, cfg.z_dim), d_input,
                                 population, workdirs)


def scan_steps(step):
    """`step(state, batch)` made into `(state, batches) -> (state, last logs)` over batches stacked on a new
    leading axis: a `lax.scan`, so the device runs the steps back to back without returning to the host."""
    def steps(state, batches):
        state, logs = jax.lax.scan(step, state, batches)
        return state, jax.tree_util.tree_map(lambda x: x[-1], logs)
    return steps


class Engine:
    """Data, networks and compiled functions shared by the members of a run (1 member = a solo trial).

    `stacked=False`: one trial, state unbatched, batch sharded over devices. `stacked=True`: P members with
    a leading population axis; the population axis is sharded over devices when P divides evenly, else
    the batch axis is. `evaluator` holds what samples and evaluations need (the unbatched generator).
    """

    def __init__(self, cfg: TrialConfig, members: int, stacked: bool, workdirs: Sequence[str] = ()):
        self.cfg, self.members, self.stacked = cfg, members, stacked
        parallel.check_divisible(samples_per_step(cfg))
        self.dataset = data.load(cfg.dataset, split="train", data_dir=cfg.data_dir)
        bn_groups = bn_groups_of(cfg)
        self.conv = choose_conv(cfg, self.dataset, bn_groups, members if stacked else 0, workdirs)
        self.model = build_model(cfg, self.dataset, bn_groups, conv=self.conv.impl)
        # A member's own calls (samples, metrics through G) are unbatched: the solo variant of the choice.
        member_model = (self.model if self.conv.member_impl == self.conv.impl else
                        build_model(cfg, self.dataset, bn_groups, conv=self.conv.member_impl))
        self.evaluator = Evaluator(cfg, member_model)
        self.mesh = parallel.data_mesh()
        self.rows = parallel.process_slice(samples_per_step(cfg))
        self.is_chief = jax.process_index() == 0
        init = functools.partial(init_state, self.model)
        step = functools.partial(train_step, self.model)
        rep = parallel.replicated(self.mesh)
        self.labelled = self.model.labelled
        if self.labelled:  # the batch is (images, labels)
            step = (lambda s, batch, _step=step: _step(s, batch[0], batch[1]))
        if not stacked:
            self._batch_axis, state_sharding = 1, rep
        elif members % jax.device_count() == 0:
            self._batch_axis, state_sharding = 0, parallel.batch_sharding(self.mesh, 0)
            init, step = jax.vmap(init), jax.vmap(step)
        else:
            self._batch_axis, state_sharding = 2, rep
            init, step = jax.vmap(init), jax.vmap(step)
        self.state_sharding = state_sharding
        self.init = jax.jit(init, out_shardings=state_sharding)
        self.steps_per_call = cfg.steps_per_call
        self.step = self._compile(step, self._batch_sharding(0))
        # trial.steps_per_call: K steps as one call; compiled at the first call, so a run that never makes one
        # (a remainder shorter than K) compiles nothing more.
        self.multi_step = self._compile(scan_steps(step), self._batch_sharding(1)) if cfg.steps_per_call > 1 else None

    def _batch_sharding(self, leading: int):
        """The input sharding of a call's batch; `leading`: axes in front of it (1: the steps of a multi-step
        call)."""
        sharding = parallel.batch_sharding(self.mesh, self._batch_axis + leading)
        return (sharding, sharding) if self.labelled else sharding

    def _compile(self, step, batch_sharding):
        step = precision.with_precision(self.cfg.precision, step)  # trial.precision: read while jit traces it
        return jax.jit(step, donate_argnums=0, out_shardings=(self.state_sharding, self.state_sharding),
                       in_shardings=(self.state_sharding, batch_sharding))

    def run_steps(self, state, batch, n: int):
        """`n` steps from `state` on the batches `load(cfgs, step, n)` gave: (state, the last step's logs)."""
        return (self.multi_step if n > 1 else self.step)(state, batch)

    def load(self, cfgs: List[TrialConfig], step: int, n: int = 1):
        """The members' real batches of steps `step..step+n-1`, on the devices with the input sharding of the
        call that takes them: the images, or (images, labels) in a conditional trial; n > 1 stacks the steps
        on a new leading axis (`multi_step`)."""
        per_step = [self._host_batch(cfgs, s) for s in range(step, step + n)]
        parts = per_step[0] if n == 1 else [np.stack(p) for p in zip(*per_step)]
        axis = self._batch_axis + (n > 1)
        put = [parallel.put_batch(self.mesh, p, axis) for p in parts]
        return tuple(put) if self.labelled else put[0]

    def _host_batch(self, cfgs: List[TrialConfig], step: int) -> list:
        """[images] or [images, labels] of `step` for the members, as host arrays (stacked over members)."""
        batches = [real_batches(c, self.dataset, step, self.rows) for c in cfgs]
        parts = [[b[0] for b in batches]] + ([[b[1] for b in batches]] if self.labelled else [])
        return [np.stack(p) if self.stacked else p[0] for p in parts]

    def member_state(self, state, i: int):
        return jax.tree_util.tree_map(lambda x: x[i], state) if self.stacked else state
