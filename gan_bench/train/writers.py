"""Where a member's numbers go: one writer per member, fanning out to the log, metrics.jsonl and TensorBoard.

Every number a trial reports goes through `MetricWriter`, as in big_vision's single metric writer, so the log
line, `metrics.jsonl` (gan_bench.outputs.MetricsLog, what reports read) and TensorBoard cannot disagree about
what was written at a step. The run's speed is measured once, by `RateTimer`: the log lines' steps/s and ETA and
the `steps_per_sec` of status.json come from the same clock and the same first step.
"""
import logging
import os
import time
from typing import Callable, Optional

from gan_bench.outputs import MetricsLog

log = logging.getLogger("gan_bench")


class RateTimer:
    """steps/s and ETA of a run, counted from the end of its first step (the one that compiles).

    One per run, shared by the members' writers. `clock` is a parameter so the arithmetic can be checked
    against hand-made times.
    """

    def __init__(self, total_steps: int, clock: Callable[[], float] = time.time):
        self.total_steps, self._clock = total_steps, clock
        self._t0: Optional[float] = None
        self._from = 0

    def start(self, step: int) -> None:
        """The first step of this process, through `step`, has finished: time the rest from now."""
        self._t0, self._from = self._clock(), step

    def steps_per_sec(self, step: int) -> Optional[float]:
        """The mean rate from the start to `step`; None while it is unknown (no timed step yet)."""
        if self._t0 is None:
            return None
        elapsed = self._clock() - self._t0
        return (step - self._from) / elapsed if step > self._from and elapsed > 0 else None

    def progress(self, step: int) -> str:
        """'12.30 steps/s, ETA 4 min 05 s' at `step`; '- steps/s, ETA -' until the rate is known."""
        rate = self.steps_per_sec(step)
        if rate is None:
            return "- steps/s, ETA -"
        left = int(round((self.total_steps - step) / rate))
        eta = f"{left // 3600} h {left % 3600 // 60:02d} min" if left >= 3600 else (
            f"{left // 60} min {left % 60:02d} s" if left >= 60 else f"{left} s")
        return f"{rate:.2f} steps/s, ETA {eta}"


class MetricWriter:
    """One member's numbers: train losses to the log line, evaluations to metrics.jsonl, both to TensorBoard.

    tensorboard: write `<workdir>/tb` (the chief process only; skipped when tensorboardX is not installed).
    """

    def __init__(self, workdir: str, timer: RateTimer, tensorboard: bool = True):
        self.name = os.path.basename(workdir.rstrip("/"))
        self.metrics_log = MetricsLog(workdir)
        self.timer = timer
        self._tb = _summary_writer(workdir) if tensorboard else None

    def resume_at(self, step: int) -> None:
        """Forget evaluations newer than the restored step, so a resumed run records none twice."""
        self.metrics_log.truncate_after(step)

    def write_train(self, step: int, logs: dict) -> None:
        """The progress line (losses, steps/s, ETA) and the losses as `train/<name>` scalars."""
        log.info("%s step %d/%d %s %s", self.name, step, self.timer.total_steps,
                 " ".join(f"{k}={float(v):.4g}" for k, v in sorted(logs.items())), self.timer.progress(step))
        if self._tb:
            for k, v in logs.items():
                self._tb.add_scalar(f"train/{k}", float(v), step)

    def write_eval(self, row: dict) -> None:
        """One evaluation (`{"step": n, ...}`) appended to metrics.jsonl; its numbers as `eval/<name>` scalars."""
        self.metrics_log.append(row)
        if self._tb:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(f"eval/{k}", v, row["step"])

    def write_image(self, tag: str, picture, step: int) -> None:
        """A uint8 [H, W, C] picture (a sample grid or plot) to TensorBoard; its PNG is the caller's file."""
        if self._tb:
            self._tb.add_image(tag, picture, step, dataformats="HWC")

    def final_metrics(self) -> dict:
        """The newest row of metrics.jsonl ({} when the trial has none), for status.json."""
        rows = self.metrics_log.read()
        return rows[-1] if rows else {}

    def close(self) -> None:
        if self._tb:
            self._tb.close()
            self._tb = None


def _summary_writer(workdir: str):
    try:
        from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return SummaryWriter(os.path.join(workdir, "tb"))
