"""The training loop: the compiled step, and at the steps they are due, each member's periodic actions.

As in big_vision's trainers the loop itself only steps. What happens every N steps — the log line, the sample
grid, the evaluation, the checkpoint — is one `PeriodicAction` each, with its own period (`trial.<name>_every`,
0: never on a schedule) and always at the last step, so a finished trial has all four for its final state. The
step's outputs are fetched from the device only at steps where some action is due: in between, the host only
feeds batches and the device never waits for it.
"""
import dataclasses
import functools
import io
import logging
import os
from typing import Callable, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_bench import checkpoint, nets
from gan_bench.atomic import atomic_write_bytes
from gan_bench.config import TrialConfig
from gan_bench.gan.state import hparams_of
from gan_bench.outputs import image_grid, save_samples_png, write_status
from gan_bench.train.engine import Engine
from gan_bench.train.evaluation import GRID_COLUMNS
from gan_bench.train.prefetch import Prefetcher
from gan_bench.train.writers import MetricWriter, RateTimer

log = logging.getLogger("gan_bench")


class Member:
    """One trial's folder and bookkeeping inside a run."""

    def __init__(self, workdir: str, cfg: TrialConfig, config_text: str):
        self.workdir, self.cfg, self.config_text = workdir, cfg, config_text
        self.writer: Optional[MetricWriter] = None  # opened when the run starts
        self.status: Optional[dict] = None  # set once the member is finished (done or diverged)

    def write_config(self):
        atomic_write_bytes(os.path.join(self.workdir, "config.gin"), self.config_text.encode())

    @property
    def ckpt_dir(self):
        return os.path.join(self.workdir, "ckpt")


@dataclasses.dataclass(frozen=True)
class PeriodicAction:
    """`run(member, state, step, logs)` at every multiple of `every` (0: none) and at step `last`.

    chief_only: in a multi-host run only process 0 writes files; every process prints its log line.
    """

    name: str
    every: int
    last: int
    run: Callable
    chief_only: bool = True

    def due(self, step: int) -> bool:
        return step == self.last or (self.every > 0 and step % self.every == 0)


def sample_title(cfg: TrialConfig, workdir: str, step: int) -> str:
    """The title of a 2-D sample plot: the model's paper name, then the trial folder and the step."""
    from gan_bench.report.naming import model_name  # pylint: disable=import-outside-toplevel  (pulls in pandas)
    return f"{model_name(cfg.loss, cfg.penalty, cfg.pack)}\ntrial {os.path.basename(os.path.normpath(workdir))}, " \
           f"step {step:,}"


def _log(m: Member, state, step: int, logs: dict) -> None:
    del state
    m.writer.write_train(step, logs)


def _sample(engine: Engine, m: Member, state, step: int, logs: dict) -> None:
    """A grid of 64 images, or 2,000 points drawn over 2,000 real ones, as a PNG and a TensorBoard image."""
    del logs
    fake = engine.evaluator.samples(m.cfg, state, 64 if len(engine.dataset.shape) == 3 else 2000)
    real, title = None, None
    if fake.ndim == 2:
        real = engine.dataset.get(np.arange(min(2000, engine.dataset.num_examples)))
        title = sample_title(m.cfg, m.workdir, step)
    picture = save_samples_png(os.path.join(m.workdir, "samples", f"step_{step:07d}.png"), fake, real, title=title)
    m.writer.write_image("samples", picture, step)
    if engine.evaluator.model.g_labels and fake.ndim == 4:
        save_class_grid(os.path.join(m.workdir, "samples", f"classes_step_{step:07d}.png"),
                        engine.evaluator.class_grid(m.cfg, state))


def save_class_grid(path: str, samples: np.ndarray) -> None:
    """A conditional generator's samples as a PNG with one row per class (`Evaluator.class_grid`), atomically."""
    from PIL import Image  # pylint: disable=import-outside-toplevel
    picture = image_grid(samples, cols=GRID_COLUMNS)
    buffer = io.BytesIO()
    Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(buffer, format="PNG")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def _evaluate(engine: Engine, m: Member, state, step: int, logs: dict) -> None:
    m.writer.write_eval(engine.evaluator.evaluate(m.cfg, state, step, logs))


def _checkpoint(m: Member, state, step: int, logs: dict) -> None:
    del logs
    checkpoint.save(m.ckpt_dir, step, state, m.cfg.keep_ckpts)


def member_actions(engine: Engine) -> List[PeriodicAction]:
    """Log, sample, evaluate, checkpoint: in this order at a step where several are due. The checkpoint comes
    last, so the checkpoint of a step exists only once the step's other outputs do: a resume misses none."""
    cfg = engine.cfg
    return [PeriodicAction("log", cfg.log_every, cfg.train_steps, _log, chief_only=False),
            PeriodicAction("sample", cfg.sample_every, cfg.train_steps, functools.partial(_sample, engine)),
            PeriodicAction("eval", cfg.eval_every, cfg.train_steps, functools.partial(_evaluate, engine)),
            PeriodicAction("ckpt", cfg.ckpt_every, cfg.train_steps, _checkpoint)]


def _initial_state(engine: Engine, members: List[Member]):
    """Each member's state at step 0, or resumed from the newest step all members have an intact checkpoint of.

    Corrupt checkpoints are moved aside with a warning (checkpoint.restore_newest); a checkpoint of another
    configuration stops the run with its ValueError.
    """
    cfgs = [m.cfg for m in members]
    seeds, hparams = jnp.asarray([c.seed for c in cfgs], jnp.int32), [hparams_of(c) for c in cfgs]
    if engine.stacked:
        state = engine.init(seeds, jax.tree_util.tree_map(lambda *x: jnp.stack(x), *hparams))
    else:
        state = engine.init(cfgs[0].seed, hparams[0])
    step, restored = checkpoint.restore_newest([m.ckpt_dir for m in members],
                                               [engine.member_state(state, i) for i in range(len(members))])
    if step is None:
        return state
    host = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *restored) if engine.stacked else restored[0]
    return jax.device_put(host, engine.state_sharding)


def run_members(engine: Engine, members: List[Member]) -> List[dict]:
    """Train the members to `train_steps`, writing each one's folder; returns their final statuses."""
    cfg = engine.cfg
    state = _initial_state(engine, members)
    start = int(np.min(jax.device_get(state.step)))
    timer = RateTimer(cfg.train_steps)
    for m in members:
        m.write_config()
        nets.write_conv_record(m.workdir, engine.conv)
        m.writer = MetricWriter(m.workdir, timer, tensorboard=engine.is_chief)
        m.writer.resume_at(start)
    log.info("%d trial(s) %s: steps %d..%d on %d device(s)", len(members), members[0].workdir, start,
             cfg.train_steps, jax.device_count())
    actions = member_actions(engine)
    calls = call_plan(start, cfg.train_steps, engine.steps_per_call, actions)
    cfgs = [m.cfg for m in members]
    prefetch = Prefetcher(lambda call: engine.load(cfgs, *call), calls)
    try:
        train_loop(engine, members, state, prefetch, calls, actions, timer)
    finally:
        prefetch.close()
        for m in members:
            m.writer.close()
    for m in members:
        if m.status is None:
            m.status = write_status(m.workdir, "done", cfg.train_steps, train_steps=cfg.train_steps,
                                    final_metrics=m.writer.final_metrics(), population=len(members),
                                    steps_per_sec=timer.steps_per_sec(cfg.train_steps))
    return [m.status for m in members]


def call_plan(start: int, stop: int, steps_per_call: int, actions: List[PeriodicAction]) -> List[Tuple[int, int]]:
    """The compiled calls from step `start` to `stop` as (first step, steps): `steps_per_call` at a time, and
    single steps where an action would be due inside a call, so every action still sees its own step's state."""
    calls, step = [], start
    while step < stop:
        n = steps_per_call
        if n > 1 and (step + n > stop or any(a.due(s) for s in range(step + 1, step + n) for a in actions)):
            n = 1
        calls.append((step, n))
        step += n
    return calls


def train_loop(engine: Engine, members: List[Member], state, prefetch: Prefetcher, calls: List[Tuple[int, int]],
               actions: List[PeriodicAction], timer: RateTimer) -> None:
    """Make the `calls` (`call_plan`) until `train_steps` or until every member has finished (diverged)."""
    for i, _ in enumerate(calls):
        (step, n), batch = prefetch.get()
        state, logs = engine.run_steps(state, batch, n)
        done = step + n
        if i == 0:  # steps/s counts from the end of the first (compiling) call
            jax.block_until_ready(state.step)
            timer.start(done)
        due = [a for a in actions if a.due(done)]
        if not due:
            continue
        _run_due(engine, members, state, logs, done, due)
        if all(m.status is not None for m in members):
            break


def _run_due(engine: Engine, members: List[Member], state, logs, step: int, due: List[PeriodicAction]) -> None:
    """At a step where actions are due: mark members whose loss went non-finite diverged, run the rest's actions."""
    logs_host, bad_steps = jax.device_get((logs, state.nonfinite_step))
    for i, m in enumerate(members):
        if m.status is not None:
            continue
        m_logs = jax.tree_util.tree_map(lambda x, i=i: x[i], logs_host) if engine.stacked else logs_host
        bad = int(np.asarray(bad_steps)[i] if engine.stacked else bad_steps)
        if bad >= 0:
            log.warning("trial %s diverged at step %d", m.workdir, bad)
            m.status = write_status(m.workdir, "diverged", bad, train_steps=engine.cfg.train_steps,
                                    losses={k: float(v) for k, v in m_logs.items()})
            continue
        member_state = engine.member_state(state, i)
        for action in due:
            if engine.is_chief or not action.chief_only:
                action.run(m, member_state, step, m_logs)
