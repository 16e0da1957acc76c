"""Trials: a gin config in, a self-describing folder out; alone or as a population in one compiled step.

`run_trial(workdir, gin_files, gin_bindings)` parses and checks the configuration, builds data, networks and
the compiled step *before* any training, resumes from the newest checkpoint in `workdir`, trains with the
batch sharded over all devices, evaluates every `eval_every` steps, and writes `status.json` last. A run
killed at any point (SIGKILL included) is continued by running the same command again.

`run_population(workdirs, configs)` trains P trials that share shapes (same net, data, batch, loss, ...;
different seeds, learning rates, betas, penalty weights) with `jax.vmap` over a leading population axis.
Each member writes the same folder, with the same numbers (to float tolerance), as its solo run would.
"""
import functools
import logging
import os
import queue
import threading
import time
from typing import List, Optional, Sequence

import gin
import jax
import jax.numpy as jnp
import numpy as np

from gan_bench import checkpoint, data, nets, parallel
from gan_bench.atomic import atomic_write_bytes
from gan_bench.config import TrialConfig, parse_config
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.penalties import d_regularizer
from gan_bench.gan.state import TRACED_HPARAMS, hparams_of, init_state, make_optimizers
from gan_bench.gan.train_step import GANModel, train_step
from gan_bench.outputs import (FINAL_STATES, MetricsLog, clear_status, read_status, save_samples_png,
                               write_status)

log = logging.getLogger("gan_bench")

_EVAL_Z = 0xE7A1  # purpose constant of the fixed evaluation latents
# Fields a population may vary: the traced hyperparameters, the seed, and pure bookkeeping.
_MEMBER_FIELDS = set(TRACED_HPARAMS) | {"seed"}


def build_model(cfg: TrialConfig, dataset, bn_groups: int = 1, *, conv: nets.ConvImpl) -> GANModel:
    """The static part of the trial; raises ValueError for unknown names or impossible shapes."""
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


def population_key(cfg: TrialConfig, config_text: str):
    """Trials with equal keys can share one compiled step: they differ only in traced values and seed.

    The key is the config with the member fields reset, plus the parsed gin text without `trial.` lines
    (bindings of network families, metrics, ... must be equal too).
    """
    shared = TrialConfig(**{**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__},
                            **{f: getattr(TrialConfig, f) for f in _MEMBER_FIELDS}})
    others = "\n".join(line for line in config_text.splitlines() if not line.startswith("trial."))
    return shared, others


def real_batches(cfg: TrialConfig, dataset, step: int, rows: slice) -> np.ndarray:
    """The `n_disc` real batches of generator step `step`, [n_disc, B_local, ...]; a pure function of step."""
    out = []
    for i in range(cfg.n_disc):
        idx = data.batch_indices(cfg.seed, step * cfg.n_disc + i, cfg.batch_size, dataset.num_examples)
        out.append(dataset.get(idx[rows]))
    return np.stack(out)


class Prefetcher:
    """Loads and transfers the batches of the next steps in a thread, so the device never waits for data.

    `close()` stops the thread (a run that ends early, every member diverged, must not leave it blocked).
    """

    def __init__(self, load, start: int, stop: int, depth: int = 2):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(load, start, stop), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, load, start, stop):
        for step in range(start, stop):
            try:
                item = (step, load(step), None)
            except Exception as e:  # surfaced in the training thread
                self._put((step, None, e))
                return
            if not self._put(item):
                return

    def get(self):
        step, batch, error = self._queue.get()
        if error is not None:
            raise error
        return step, batch

    def close(self):
        self._stop.set()
        self._thread.join()


def choose_conv(cfg: TrialConfig, dataset, bn_groups: int, population: int, workdirs=()) -> nets.ConvChoice:
    """`trial.conv_impl` resolved once for the run's nets and shapes (population: members of a vmapped step,
    0 for a solo one; workdirs: trial folders whose recorded choice a resumed run keeps)."""
    def generator_and_discriminator(conv):
        model = build_model(cfg, dataset, bn_groups, conv=conv)
        return model.generator, model.discriminator
    d_input = (2 * cfg.batch_size // cfg.pack,) + tuple(dataset.shape[:-1]) + (dataset.shape[-1] * cfg.pack,)
    return nets.choose_conv_impl(cfg.conv_impl, generator_and_discriminator, (cfg.batch_size, cfg.z_dim), d_input,
                                 population, workdirs)


class Engine:
    """Data, networks and compiled functions shared by the members of a run (1 member = a solo trial).

    `stacked=False`: one trial, state unbatched, batch sharded over devices. `stacked=True`: P members with
    a leading population axis; the population axis is sharded over devices when P divides evenly, else
    the batch axis is.
    """

    def __init__(self, cfg: TrialConfig, members: int, stacked: bool, workdirs: Sequence[str] = ()):
        self.cfg, self.members, self.stacked = cfg, members, stacked
        parallel.check_divisible(cfg.batch_size)
        self.dataset = data.load(cfg.dataset, split="train", data_dir=cfg.data_dir)
        bn_groups = jax.device_count() if cfg.bn_stats == "per_device" else 1
        self.conv = choose_conv(cfg, self.dataset, bn_groups, members if stacked else 0, workdirs)
        self.model = build_model(cfg, self.dataset, bn_groups, conv=self.conv.impl)
        # A member's own calls (samples, metrics through G) are unbatched: the solo variant of the choice.
        member_model = (self.model if self.conv.member_impl == self.conv.impl else
                        build_model(cfg, self.dataset, bn_groups, conv=self.conv.member_impl))
        self.mesh = parallel.data_mesh()
        self.rows = parallel.process_slice(cfg.batch_size)
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
        self.step = jax.jit(step, donate_argnums=0, out_shardings=(state_sharding, state_sharding),
                            in_shardings=(state_sharding, parallel.batch_sharding(self.mesh, self._batch_axis)))
        self._sample = jax.jit(lambda params, g_collections, z: member_model.generate(params, g_collections, z))
        # One generator function for the whole run: metrics that differentiate through G (polygon recall)
        # compile it once and get each evaluation's weights as data.
        self.generate = lambda variables, z: member_model.generate(variables[0], variables[1], z)

    def load(self, cfgs: List[TrialConfig], step: int):
        batches = [real_batches(c, self.dataset, step, self.rows) for c in cfgs]
        host = np.stack(batches) if self.stacked else batches[0]
        return parallel.put_batch(self.mesh, host, self._batch_axis)

    def member_state(self, state, i: int):
        return jax.tree_util.tree_map(lambda x: x[i], state) if self.stacked else state

    def samples(self, cfg: TrialConfig, state, n: int) -> np.ndarray:
        """n generated samples from the member's fixed latents (its EMA generator when the EMA is on)."""
        z = self.model.sample_z(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), _EVAL_Z), n)
        params = state.ema_params if cfg.ema_decay > 0 else state.g.params
        out = [np.asarray(self._sample(params, state.g.norm_collections, z[i:i + 500])) for i in range(0, n, 500)]
        return np.concatenate(out)

    @functools.cached_property
    def eval_dataset(self):
        return data.load(self.cfg.dataset, split=self.cfg.eval_split, data_dir=self.cfg.data_dir)

    @functools.cached_property
    def real_eval_samples(self) -> np.ndarray:
        """The real side of every evaluation, read once per run (members share `eval_num_samples`)."""
        return self.eval_dataset.get(np.arange(min(self.cfg.eval_num_samples, self.eval_dataset.num_examples)))

    def eval_context(self, cfg: TrialConfig, state):
        """The metrics' inputs at this state: real eval samples and `eval_num_samples` generated ones."""
        from gan_bench.metrics import evaluate as ev  # pylint: disable=import-outside-toplevel
        params = state.ema_params if cfg.ema_decay > 0 else state.g.params
        return ev.EvalContext(real=self.real_eval_samples,
                              fake=self.samples(cfg, state, cfg.eval_num_samples), dataset=self.eval_dataset,
                              generate=self.generate, generator_variables=(params, state.g.norm_collections),
                              z_dim=cfg.z_dim, seed=cfg.seed, split=cfg.eval_split, data_dir=cfg.data_dir,
                              generator_weights="ema" if cfg.ema_decay > 0 else "final")

    def evaluate(self, cfg: TrialConfig, state, step: int, train_logs: dict) -> dict:
        row = {"step": step, **{k: float(v) for k, v in train_logs.items()}}
        if cfg.metrics:
            from gan_bench.metrics import evaluate as ev  # pylint: disable=import-outside-toplevel
            row.update(ev.evaluate(cfg.metrics, self.eval_context(cfg, state)))
        return row


class Member:
    """One trial's folder and bookkeeping inside a run."""

    def __init__(self, workdir: str, cfg: TrialConfig, config_text: str):
        self.workdir, self.cfg, self.config_text = workdir, cfg, config_text
        self.metrics_log = MetricsLog(workdir)
        self.writer = None
        self.status: Optional[dict] = None  # set once the member is finished (done or diverged)

    def write_config(self):
        atomic_write_bytes(os.path.join(self.workdir, "config.gin"), self.config_text.encode())

    @property
    def ckpt_dir(self):
        return os.path.join(self.workdir, "ckpt")


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def _restore(engine: Engine, members: List[Member], state):
    """Resume every member from the newest step that all of them have an intact checkpoint for (else from 0).

    Corrupt checkpoints are moved aside with a warning (checkpoint.restore_newest); a checkpoint of another
    configuration stops the run with its ValueError.
    """
    step, restored = checkpoint.restore_newest([m.ckpt_dir for m in members],
                                               [engine.member_state(state, i) for i in range(len(members))])
    if step is None:
        return state
    host = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *restored) if engine.stacked else restored[0]
    return jax.device_put(host, engine.state_sharding)


def run_members(engine: Engine, members: List[Member]) -> List[dict]:
    """Train the members to `train_steps`, writing each one's folder; returns their final statuses."""
    cfg, cfgs = engine.cfg, [m.cfg for m in members]
    seeds = jnp.asarray([c.seed for c in cfgs], jnp.int32)
    hparams = [hparams_of(c) for c in cfgs]
    if engine.stacked:
        state = engine.init(seeds, jax.tree_util.tree_map(lambda *x: jnp.stack(x), *hparams))
    else:
        state = engine.init(cfgs[0].seed, hparams[0])
    state = _restore(engine, members, state)
    start = int(np.min(jax.device_get(state.step)))
    for m in members:
        m.write_config()
        nets.write_conv_record(m.workdir, engine.conv)
        m.metrics_log.truncate_after(start)
        m.writer = _tensorboard(m.workdir) if engine.is_chief else None
    log.info("%d trial(s) %s: steps %d..%d on %d device(s)", len(members), members[0].workdir, start,
             cfg.train_steps, jax.device_count())
    prefetch = Prefetcher(functools.partial(engine.load, cfgs), start, cfg.train_steps)
    try:
        t0, rate_from = _train_loop(engine, members, state, prefetch, start)
    finally:
        prefetch.close()
    for m in members:
        if m.status is None:
            if m.writer:
                m.writer.close()
            final = m.metrics_log.read()
            steps_done = cfg.train_steps - rate_from
            m.status = write_status(m.workdir, "done", cfg.train_steps, train_steps=cfg.train_steps,
                                    final_metrics=final[-1] if final else {}, population=len(members),
                                    steps_per_sec=steps_done / max(time.time() - t0, 1e-9) if steps_done else None)
    return [m.status for m in members]


def _train_loop(engine: Engine, members: List[Member], state, prefetch: Prefetcher, start: int):
    """Step until `train_steps` or until every member has diverged; returns (t0, rate_from) for steps/s."""
    cfg = engine.cfg
    t0, rate_from = time.time(), start  # steps/s counts from the end of the first (compiling) step
    for _ in range(start, cfg.train_steps):
        step, batch = prefetch.get()
        state, logs = engine.step(state, batch)
        done = step + 1
        if step == start:
            jax.block_until_ready(state.step)
            t0, rate_from = time.time(), done
        due = {name: _due(done, getattr(cfg, f"{name}_every"), cfg.train_steps)
               for name in ("ckpt", "eval", "sample", "log")}
        if not any(due.values()):
            continue
        logs_host, bad_steps = jax.device_get((logs, state.nonfinite_step))
        for i, m in enumerate(members):
            if m.status is not None:
                continue
            m_logs = jax.tree_util.tree_map(lambda x: x[i], logs_host) if engine.stacked else logs_host
            bad = int(np.asarray(bad_steps)[i] if engine.stacked else bad_steps)
            if bad >= 0:
                log.warning("trial %s diverged at step %d", m.workdir, bad)
                m.status = write_status(m.workdir, "diverged", bad, train_steps=cfg.train_steps,
                                        losses={k: float(v) for k, v in m_logs.items()})
                continue
            _member_outputs(engine, m, engine.member_state(state, i), done, m_logs, due, t0, rate_from)
        if all(m.status is not None for m in members):
            break
    return t0, rate_from


def _progress(done: int, total: int, start: int, t0: float) -> str:
    """'12.3 steps/s, ETA 4 min 05 s', timed from the end of the first (compiling) step; '-' until known."""
    elapsed = time.time() - t0
    if done <= start or elapsed <= 0:
        return "- steps/s, ETA -"
    rate = (done - start) / elapsed
    left = int(round((total - done) / rate))
    eta = f"{left // 3600} h {left % 3600 // 60:02d} min" if left >= 3600 else (
        f"{left // 60} min {left % 60:02d} s" if left >= 60 else f"{left} s")
    return f"{rate:.2f} steps/s, ETA {eta}"


def _member_outputs(engine, m: Member, state, done, logs, due, t0, start):
    cfg = m.cfg
    if due["log"]:
        log.info("%s step %d/%d %s %s", os.path.basename(m.workdir.rstrip("/")), done, cfg.train_steps,
                 " ".join(f"{k}={float(v):.4g}" for k, v in sorted(logs.items())),
                 _progress(done, cfg.train_steps, start, t0))
        if m.writer:
            for k, v in logs.items():
                m.writer.add_scalar(f"train/{k}", float(v), done)
    if not engine.is_chief:
        return
    if due["sample"]:
        fake = engine.samples(cfg, state, 64 if len(engine.dataset.shape) == 3 else 2000)
        real = engine.dataset.get(np.arange(min(2000, engine.dataset.num_examples))) if fake.ndim == 2 else None
        picture = save_samples_png(os.path.join(m.workdir, "samples", f"step_{done:07d}.png"), fake, real)
        if m.writer:
            m.writer.add_image("samples", picture, done, dataformats="HWC")
    if due["eval"]:
        row = engine.evaluate(cfg, state, done, logs)
        m.metrics_log.append(row)
        if m.writer:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    m.writer.add_scalar(f"eval/{k}", v, done)
    if due["ckpt"]:
        checkpoint.save(m.ckpt_dir, done, state, cfg.keep_ckpts)


def _tensorboard(workdir: str):
    try:
        from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return SummaryWriter(os.path.join(workdir, "tb"))


def _parse_member(gin_files, gin_bindings):
    """The member's checked config and its gin text (every binding as parsed: what config.gin records)."""
    cfg = parse_config(gin_files, gin_bindings)
    return cfg, gin.config_str()


def run_trial(workdir: str, gin_files: Sequence[str] = (), gin_bindings: Sequence[str] = ()) -> dict:
    """Run (or resume) one trial; see the module docstring. Returns the final status."""
    return run_population([workdir], [gin_files], [gin_bindings], stacked=False)[0]


def run_population(workdirs: Sequence[str], gin_files: Sequence[Sequence[str]],
                   gin_bindings: Sequence[Sequence[str]], stacked: bool = True) -> List[dict]:
    """Run (or resume) several trials that share shapes in one vmapped step; returns their statuses.

    Members already done or diverged are left as they are. Configuration errors raise ValueError before
    any compute (and mark the members failed); members that differ in more than seed and traced
    hyperparameters are refused. Any exception during training is recorded as status `failed` (with the
    error) in every unfinished member's folder and re-raised; an interrupt leaves folders resumable.
    """
    statuses = [read_status(w) for w in workdirs]
    todo = [i for i, s in enumerate(statuses) if not (s and s["state"] in FINAL_STATES)]
    if not todo:
        return statuses
    for i in todo:
        os.makedirs(workdirs[i], exist_ok=True)
    try:
        members = []
        for i in todo:
            cfg, text = _parse_member(gin_files[i], gin_bindings[i])
            members.append(Member(workdirs[i], cfg, text))
        key = population_key(members[0].cfg, members[0].config_text)
        for m in members[1:]:
            if population_key(m.cfg, m.config_text) != key:
                raise ValueError(f"trial {m.workdir} cannot join the population of {members[0].workdir}: "
                                 f"they differ in more than {sorted(_MEMBER_FIELDS)}")
        for m in members:
            clear_status(m.workdir)  # a rerun of a failed trial starts without the old failure on record
        # One member left (the others finished before a restart) runs unstacked: a vmapped step over one
        # member ran at 0.64-0.96x the solo step's speed on CPU (BENCHMARKS.md), for the same numbers.
        engine = Engine(members[0].cfg, len(members), stacked and len(members) > 1,
                        workdirs=[m.workdir for m in members])
        results = run_members(engine, members)
    except Exception as e:
        for i in todo:
            steps = checkpoint.list_steps(os.path.join(workdirs[i], "ckpt"))
            write_status(workdirs[i], "failed", steps[-1] if steps else 0, error=f"{type(e).__name__}: {e}")
        raise
    for i, status in zip(todo, results):
        statuses[i] = status
    return statuses
