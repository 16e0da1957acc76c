"""What a run compiles: the model, the convolution choice, the sharded init and step, the real batches.

One `Engine` serves every member of a run (one member: a solo trial). It is built completely — data, nets,
convolution choice, compiled functions — before the first step, so a bad config or an impossible shape fails
before any training. Benchmarks time `Engine.step` directly, which is why the compile and sharding decisions
live here and not in the loop.
"""
import functools
from typing import List, Sequence

import jax
import numpy as np

from gan_bench import data, nets, parallel, precision
from gan_bench.config import samples_per_step
from gan_bench.config import TrialConfig
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.penalties import d_regularizer
from gan_bench.gan.state import init_state, make_optimizers
from gan_bench.gan.train_step import GANModel, train_step
from gan_bench.train.evaluation import Evaluator


def build_model(cfg: TrialConfig, dataset, bn_groups: int = 1, *, conv: nets.ConvImpl) -> GANModel:
    """The static part of the trial; raises ValueError for unknown names or impossible shapes.

    `dataset` only lends its example shape: the eval split serves as well as the train split.
    """
    loss_fn = LOSSES.get(cfg.loss)
    penalty_fn, d_projection = d_regularizer(cfg.penalty)  # weight clipping is a projection, not a term
    from gan_bench.metrics.evaluate import check_settings  # pylint: disable=import-outside-toplevel
    check_settings(cfg.metrics)  # an unknown metric or metric option fails now, not at the first evaluation
    generator, discriminator = nets.build(
        cfg.architecture, data_shape=tuple(dataset.shape), z_dim=cfg.z_dim, d_norm=cfg.d_norm,
        g_norm=cfg.g_norm, bn_groups=bn_groups, conv=conv)
    g_tx, d_tx = make_optimizers(cfg)
    return GANModel(generator=generator, discriminator=discriminator, loss_fn=loss_fn,
                    penalty_fn=penalty_fn, d_projection=d_projection, z_dim=cfg.z_dim, z_dist=cfg.z_dist,
                    n_disc=cfg.n_disc, pack=cfg.pack, data_shape=tuple(dataset.shape), g_tx=g_tx, d_tx=d_tx)


def bn_groups_of(cfg: TrialConfig) -> int:
    """Batch-norm statistics groups: one per device for `bn_stats = 'per_device'`, else one for the batch."""
    return jax.device_count() if cfg.bn_stats == "per_device" else 1


def real_batches(cfg: TrialConfig, dataset, step: int, rows: slice) -> np.ndarray:
    """The `n_disc` real batches of generator step `step`, [n_disc, B_local, ...]; a pure function of step."""
    out = []
    for i in range(cfg.n_disc):
        idx = data.batch_indices(cfg.seed, step * cfg.n_disc + i, samples_per_step(cfg),
                                 dataset.num_examples)
        out.append(dataset.get(idx[rows]))
    return np.stack(out)


def choose_conv(cfg: TrialConfig, dataset, bn_groups: int, population: int, workdirs=()) -> nets.ConvChoice:
    """`trial.conv_impl` resolved once for the run's nets and shapes (population: members of a vmapped step,
    0 for a solo one; workdirs: trial folders whose recorded choice a resumed run keeps)."""
    def generator_and_discriminator(conv):
        model = build_model(cfg, dataset, bn_groups, conv=conv)
        return model.generator, model.discriminator
    batch = samples_per_step(cfg)
    d_input = (2 * batch // cfg.pack,) + tuple(dataset.shape[:-1]) + (dataset.shape[-1] * cfg.pack,)
    return nets.choose_conv_impl(cfg.conv_impl, generator_and_discriminator, (batch, cfg.z_dim), d_input,
                                 population, workdirs)


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
        step = precision.with_precision(cfg.precision, step)  # trial.precision: read while jit traces the step
        self.step = jax.jit(step, donate_argnums=0, out_shardings=(state_sharding, state_sharding),
                            in_shardings=(state_sharding, parallel.batch_sharding(self.mesh, self._batch_axis)))

    def load(self, cfgs: List[TrialConfig], step: int):
        """The members' real batches of `step`, on the devices with the step's input sharding."""
        batches = [real_batches(c, self.dataset, step, self.rows) for c in cfgs]
        host = np.stack(batches) if self.stacked else batches[0]
        return parallel.put_batch(self.mesh, host, self._batch_axis)

    def member_state(self, state, i: int):
        return jax.tree_util.tree_map(lambda x: x[i], state) if self.stacked else state
