"""Sweep progress lines: counts of N, the ETA (checked against the hand-computed mean-duration schedule), a
line per change on a terminal, one line per finished trial (never a carriage return) elsewhere."""
import re

from gan_bench.sweep.progress import Progress, format_duration


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _progress(states, workers=2, tty=False):
    clock, lines = Clock(), []
    return Progress(states, workers, print_fn=lines.append, tty=tty, interval_s=30.0, clock=clock), clock, lines


def test_counts_and_eta_follow_the_finished_trials_durations():
    p, clock, lines = _progress({"a": "pending", "b": "pending", "c": "pending", "d": "failed", "e": "pending",
                                 "z": "done"})
    # 6 trials: z done before this run (never timed), d failed before (run again: pending), 4 others pending.
    assert p.counts() == {"done": 1, "diverged": 0, "failed": 0, "running": 0, "pending": 5}
    assert p.eta_seconds() is None and "ETA after the first trial ends" in p.line()
    p.started(["a"])
    p.started(["b"])
    clock.now = 10.0
    p.finished({"a": "done"}, ["a"])  # mean 10 s per trial
    # b ran 10 s of its expected 10; c, d, e pending: (0 + 3 * 10) / 2 workers
    assert p.eta_seconds() == 15.0
    p.started(["c"])
    clock.now = 14.0
    # b: max(10 - 14, 0) = 0, c: 10 - 4 = 6, d and e: 20 -> 26 / 2
    assert p.eta_seconds() == 13.0
    p.finished({"b": "failed"}, ["b"])  # mean (10 + 14) / 2 = 12; c: 12 - 4 = 8; d, e: 24 -> 32 / 2
    assert p.eta_seconds() == 16.0
    assert p.counts() == {"done": 2, "diverged": 0, "failed": 1, "running": 1, "pending": 2}
    assert lines == [f"a done in 10 s; 2/6 trials ended (2 done, 0 diverged, 0 failed), 1 running, 3 pending; ETA 15 s",
                     f"b failed in 14 s; 3/6 trials ended (2 done, 0 diverged, 1 failed), 1 running, 2 pending; "
                     f"ETA 16 s"]


def test_a_population_unit_counts_its_time_once_per_slot():
    p, clock, _ = _progress({t: "pending" for t in "abcdef"}, workers=1)
    p.started(["a", "b", "c", "d"])
    clock.now = 40.0
    p.finished({t: "done" for t in "abcd"}, ["a", "b", "c", "d"])
    assert p.eta_seconds() == 20.0  # 10 s of the one slot per trial, 2 trials left


def test_interrupted_and_elsewhere_trials():
    p, clock, lines = _progress({t: "pending" for t in "abc"})
    p.running_elsewhere(["c"])  # another sweep process runs it
    p.started(["a"])
    clock.now = 5.0
    p.finished({"a": "pending"}, ["a"])  # lost its lease or was interrupted: pending again, nothing printed
    assert lines == [] and p.counts()["pending"] == 2 and p.counts()["running"] == 1
    p.finished({"c": "diverged"})  # ended in the other process
    assert p.counts() == {"done": 0, "diverged": 1, "failed": 0, "running": 0, "pending": 2}
    assert lines == ["c diverged; 1/3 trials ended (0 done, 1 diverged, 0 failed), 0 running, 2 pending; "
                     "ETA after the first trial ends"]


def test_terminal_prints_each_change_and_every_interval_other_output_only_finished_trials():
    for tty in (True, False):
        p, clock, lines = _progress({t: "pending" for t in "ab"}, workers=1, tty=tty)
        p.started(["a"])
        for t in range(1, 95):
            clock.now = float(t)
            p.tick()
        p.finished({"a": "done"}, ["a"])
        p.started(["b"])
        clock.now = 200.0
        p.finished({"b": "done"}, ["b"])
        assert not any("\r" in line for line in lines)
        if tty:  # start of a; ticks at 30, 60, 90 s; a's end; b's start; b's end
            assert len(lines) == 7 and all(line.startswith("sweep: ") for line in lines)
            assert "1 running" in lines[1] and "ETA" not in lines[-1] and lines[-1].startswith("sweep: 2/2 ")
        else:
            assert [re.match(r"(\w) done in (.*?);", line).groups() for line in lines] == [
                ("a", "1 min 34 s"), ("b", "1 min 46 s")]


def test_format_duration():
    assert [format_duration(s) for s in (0, 59.4, 61, 3599, 3600, 7322)] == [
        "0 s", "59 s", "1 min 01 s", "59 min 59 s", "1 h 00 min", "2 h 02 min"]
