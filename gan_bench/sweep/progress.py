"""Sweep progress: how many of the N trials are done, running, failed and pending, and an ETA.

Executors report events (`started`, `finished`, `running_elsewhere`) and call `tick()` while they wait.
On a terminal, a line is printed at every change and every `interval_s` seconds otherwise; into a file or
a pipe (a batch log), one line per finished trial and nothing else, never a carriage-return redraw.

The ETA assumes the trials still to run take as long as the ones this run has finished: a finished unit (a
trial, or a population trained together) of n trials that took d seconds counts d / n seconds of a worker
slot per trial. The work left — pending trials at that mean, plus what the mean leaves of each running
unit — is shared by the worker slots.
"""
import time
from typing import Callable, Dict, Iterable, Optional, Sequence

from gan_bench.outputs import FINAL_STATES
from gan_bench.sweep import store
from gan_bench.sweep.lease import format_duration

ENDED = FINAL_STATES + ("failed",)


class Progress:
    """Counts and ETA of one sweep invocation; see the module docstring."""

    def __init__(self, states: Dict[str, str], workers: int, print_fn: Callable[[str], None] = print,
                 tty: bool = False, interval_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        """`states`: every trial id of the sweep with its state at the start (done / diverged / failed count
        as ended; anything else as pending)."""
        self.workers, self.print_fn, self.tty, self.interval_s, self.clock = workers, print_fn, tty, interval_s, clock
        self.ended = {tid: s for tid, s in states.items() if s in FINAL_STATES}
        self.pending = set(states) - set(self.ended)
        self.total = len(states)
        self.units: Dict[tuple, float] = {}  # running here: trial ids -> start time
        self.elsewhere: set = set()  # running in another sweep process
        self.slot_seconds: list = []  # per trial, of the units finished in this run
        self._last_print = clock()

    # --- events ---------------------------------------------------------------------------------------
    def started(self, trial_ids: Sequence[str]) -> None:
        ids = tuple(trial_ids)
        self.units[ids] = self.clock()
        for tid in ids:
            self.pending.discard(tid)
            self.elsewhere.discard(tid)
        self._changed()

    def running_elsewhere(self, trial_ids: Iterable[str]) -> None:
        new = set(trial_ids) - self.elsewhere - set(self.ended)
        if new:
            self.elsewhere |= new
            self.pending -= new
            self._changed()

    def finished(self, states: Dict[str, str], trial_ids: Optional[Sequence[str]] = None,
                 seconds: Optional[float] = None) -> None:
        """A unit ended (`trial_ids`, as given to `started`), or trials ended elsewhere (`trial_ids=None`).

        `states`: each trial's state afterwards; a trial not ended (interrupted, lost its lease) is pending.
        `seconds`: how long the unit ran, when the executor measured it (else: since `started`)."""
        ids = tuple(trial_ids) if trial_ids is not None else tuple(states)
        since = self.units.pop(ids, None) if trial_ids is not None else None
        if seconds is None and since is not None:
            seconds = self.clock() - since
        if seconds is not None and trial_ids is not None and any(states.get(t) in ENDED for t in ids):
            self.slot_seconds += [seconds / len(ids)] * len(ids)
        lines = []
        for tid in ids:
            self.elsewhere.discard(tid)
            state = states.get(tid)
            if state in ENDED:
                self.pending.discard(tid)
                if tid not in self.ended:
                    self.ended[tid] = state
                    took = f" in {format_duration(seconds)}" if seconds is not None else ""
                    lines.append(f"{tid} {state}{took}")
            else:
                self.ended.pop(tid, None)
                self.pending.add(tid)
        if not lines:
            return
        if self.tty:
            self._changed()
        else:
            summary = self.line()
            for text in lines:
                self.print_fn(f"{text}; {summary}")

    def tick(self) -> None:
        """On a terminal, repeat the line when nothing changed for `interval_s` seconds (the ETA moves)."""
        if self.tty and self.clock() - self._last_print >= self.interval_s:
            self._print()

    # --- numbers --------------------------------------------------------------------------------------
    def counts(self) -> Dict[str, int]:
        ended = list(self.ended.values())
        running = sum(len(ids) for ids in self.units) + len(self.elsewhere)
        return {"done": ended.count("done"), "diverged": ended.count("diverged"), "failed": ended.count("failed"),
                "running": running, "pending": self.total - len(ended) - running}

    def eta_seconds(self) -> Optional[float]:
        """Seconds until every trial has run, or None before any trial finished in this run."""
        if not self.slot_seconds:
            return None
        mean = sum(self.slot_seconds) / len(self.slot_seconds)
        now = self.clock()
        left = sum(max(mean * len(ids) - (now - since), 0.0) for ids, since in self.units.items())
        left += mean * len(self.pending - self.elsewhere)
        return left / self.workers

    def line(self) -> str:
        c = self.counts()
        eta = self.eta_seconds()
        ended = sum(c[s] for s in ENDED)
        text = (f"{ended}/{self.total} trials ended ({c['done']} done, {c['diverged']} diverged, {c['failed']} "
                f"failed), {c['running']} running, {c['pending']} pending")
        if ended == self.total:
            return text
        return text + (f"; ETA {format_duration(eta)}" if eta is not None else "; ETA after the first trial ends")

    def _changed(self) -> None:
        if self.tty:
            self._print()

    def _print(self) -> None:
        self._last_print = self.clock()
        self.print_fn(f"sweep: {self.line()}")


def notice_started(progress: Progress, results: str, units: Iterable[Sequence[str]]) -> None:
    """For executors that cannot see their tasks start (Ray, Slurm): mark a unit started once one of its
    trials holds a lease. Reads the folders of the units given, so call it every few tens of seconds."""
    for ids in units:
        if tuple(ids) not in progress.units and any(
                store.trial_state(store.trial_dir(results, tid)) == "running" for tid in ids):
            progress.started(ids)
