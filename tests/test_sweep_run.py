"""Running sweeps: crash safety (SIGKILL mid-way, then resume), concurrent sweeps, failures, progress lines,
Ray and submitit.

The trial function here is a small stand-in with the run_trial contract (resume from its last checkpoint,
status.json written atomically and last, early return when done) that leaves "started"/"finished" markers,
so the tests can count how often each trial ran. Its final value is a closed-form recurrence the test
recomputes without interruption.
"""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gan_bench.atomic import atomic_write_json
from gan_bench.sweep import lease, status_main, store, sweep_main

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = "test_sweep_run:fake_trial"


def _bindings(gin_bindings):
    out = {}
    for b in gin_bindings:
        key, _, value = b.partition("=")
        out[key.strip()] = eval(value.strip())  # pylint: disable=eval-used  (literals written by the sweep)
    return out


def expected_value(seed, steps):
    x = seed + 1
    for step in range(steps):
        x = (x * 1103515245 + 12345 + step) % 2 ** 31
    return x


def fake_trial(workdir, gin_files=(), gin_bindings=()):
    """run_trial's contract on a toy state x; trial.loss = 'minimax' makes it raise (recorded as failed)."""
    cfg = _bindings(gin_bindings)
    status_path, ckpt_path = os.path.join(workdir, "status.json"), os.path.join(workdir, "ckpt.json")
    if os.path.exists(status_path):
        with open(status_path) as f:
            status = json.load(f)
        if status["state"] in ("done", "diverged"):
            return status
    steps, every = cfg.get("trial.train_steps", 20), cfg.get("trial.ckpt_every", 5)
    state = {"step": 0, "x": cfg["trial.seed"] + 1}
    if os.path.exists(ckpt_path):
        with open(ckpt_path) as f:
            state = json.load(f)
    with open(os.path.join(workdir, "markers.log"), "a") as f:
        f.write(f"started {os.getpid()} {state['step']}\n")
    if cfg.get("trial.loss") == "minimax":
        status = {"state": "failed", "step": state["step"], "time": time.time(), "error": "RuntimeError: boom"}
        atomic_write_json(status_path, status)
        raise RuntimeError("boom")
    for step in range(state["step"], steps):
        time.sleep(float(os.environ.get("FAKE_STEP_SECONDS", "0.02")))
        state = {"step": step + 1, "x": (state["x"] * 1103515245 + 12345 + step) % 2 ** 31}
        if state["step"] % every == 0:
            atomic_write_json(ckpt_path, state)
    status = {"state": "done", "step": steps, "time": time.time(), "final_metrics": {"x": state["x"]}}
    atomic_write_json(status_path, status)
    with open(os.path.join(workdir, "markers.log"), "a") as f:
        f.write(f"finished {os.getpid()}\n")
    return status


def _markers(results):
    out = {}
    for tid in store.trial_ids(results):
        path = os.path.join(results, tid, "markers.log")
        lines = open(path).read().split("\n") if os.path.exists(path) else []
        out[tid] = [line.split() for line in lines if line]
    return out


def _ckpt_step(results, tid):
    try:
        return json.load(open(os.path.join(results, tid, "ckpt.json")))["step"]
    except (OSError, ValueError):
        return 0


def _sweep_file(tmp_path, grid="{'trial.loss': ['non_saturating', 'hinge', 'least_squares']}", seeds=2,
                steps=30):
    path = tmp_path / "sweep.gin"
    path.write_text(textwrap.dedent(f"""
        trial.train_steps = {steps}
        trial.ckpt_every = 5
        sweep.grid = {grid}
        sweep.seeds = {seeds}
    """))
    return str(path)


def _start_sweep(sweep_file, results, workers=2, lease_ttl=2.0, step_seconds="0.05"):
    code = (f"import logging; logging.basicConfig(level=logging.INFO)\n"
            f"from gan_bench.sweep import sweep_main\n"
            f"sweep_main({sweep_file!r}, {results!r}, workers={workers}, trial_fn={FAKE!r}, lease_ttl={lease_ttl})\n")
    env = {**os.environ, "FAKE_STEP_SECONDS": step_seconds,
           "PYTHONPATH": os.pathsep.join([HERE, os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def _check_all_done_once(results, n):
    markers = _markers(results)
    assert len(markers) == n
    for tid, lines in markers.items():
        record = json.load(open(os.path.join(results, tid, "trial.json")))
        status = json.load(open(os.path.join(results, tid, "status.json")))
        assert status["state"] == "done", (tid, status)
        assert sum(m[0] == "finished" for m in lines) == 1, (tid, lines)
        assert status["final_metrics"]["x"] == expected_value(record["seed"], 30)
    return markers


def _gone(pid):
    """No such process on this host, or a zombie waiting to be reaped (read from the kernel, not gan_bench)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_sigkill_mid_sweep_then_restart_finishes_every_trial_once(tmp_path):
    """With a lease TTL of 300 s, the restarted sweep must take the killed sweep's trials back at once."""
    sweep_file, results = _sweep_file(tmp_path), str(tmp_path / "results")
    proc = _start_sweep(sweep_file, results, lease_ttl=300.0)
    deadline = time.time() + 60
    while time.time() < deadline:  # kill once a trial finished and another one is part-way
        m = _markers(results) if os.path.isdir(results) else {}
        finished = [t for t, ls in m.items() if any(x[0] == "finished" for x in ls)]
        midway = [t for t, ls in m.items() if ls and not any(x[0] == "finished" for x in ls)
                  and 0 < _ckpt_step(results, t) <= 15]
        if finished and midway:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its trial processes must notice and stop
    proc.wait()
    killed_midway = set(midway)
    assert killed_midway and len(finished) < 6
    held = {tid: lease.current(os.path.join(results, tid))[1] for tid in store.trial_ids(results)}
    held = {tid: info for tid, info in held.items() if info and not info["released"]}
    assert proc.pid in {p["pid"] for info in held.values() for p in info["procs"]}
    pids = {p["pid"] for info in held.values() for p in info["procs"]}
    assert len(pids) > 1  # the driver and the trial processes it started
    for tid in list(held):  # a trial that wrote its status just before the kill is done, whatever its lease
        status_path = os.path.join(results, tid, "status.json")
        if os.path.exists(status_path) and json.load(open(status_path))["state"] == "done":
            del held[tid]
    assert killed_midway <= set(held)
    deadline = time.time() + 60
    while not all(_gone(pid) for pid in pids):  # the trial processes notice the driver is gone and exit
        assert time.time() < deadline
        time.sleep(0.05)
    text = status_main(results)
    assert f"0 running, {len(held)} dead" in text, text
    assert all(f"dead {tid}" in text for tid in held)
    ended_before = sum(store.trial_state(os.path.join(results, t)) == "done" for t in store.trial_ids(results))
    second = _start_sweep(sweep_file, results, lease_ttl=300.0)
    out, _ = second.communicate(timeout=120)  # a wait for the 300 s TTL would end here
    out = out.decode()
    assert second.returncode == 0, out[-3000:]
    reclaimed = [line for line in out.splitlines() if "reclaimed trial" in line]
    assert sorted(re.search(r"reclaimed trial (\S+)", line).group(1) for line in reclaimed) == sorted(held)
    assert all("no such process on this host" in line for line in reclaimed)
    # Not a terminal: one progress line per trial this run finished, no carriage-return redraws.
    assert "\r" not in out
    progress = [line for line in out.splitlines() if re.match(r"^\S+ done in .*; \d+/6 trials ended", line)]
    assert len(progress) == 6 - ended_before, out[-3000:]
    markers = _check_all_done_once(results, 6)
    for tid in killed_midway:  # resumed from its checkpoint, not restarted from 0
        starts = [int(x[2]) for x in markers[tid] if x[0] == "started"]
        assert len(starts) == 2 and starts[0] == 0 and starts[1] > 0, markers[tid]
    assert "6 done" in store.format_summary(results, store.summarize(results))


def test_two_sweeps_at_once_run_each_trial_once(tmp_path):
    sweep_file, results = _sweep_file(tmp_path), str(tmp_path / "results")
    procs = [_start_sweep(sweep_file, results, workers=2, step_seconds="0.02") for _ in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out.decode()[-3000:]
    markers = _check_all_done_once(results, 6)
    assert all(sum(x[0] == "started" for x in lines) == 1 for lines in markers.values())


def test_failed_trial_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(HERE)
    sweep_file = _sweep_file(tmp_path, grid="{'trial.loss': ['minimax', 'hinge']}", seeds=1, steps=5)
    results = str(tmp_path / "results")
    summary = sweep_main(sweep_file, results, workers=2, trial_fn=FAKE, print_fn=lambda _: None)
    assert summary["counts"]["done"] == 1 and summary["counts"]["failed"] == 1
    assert list(summary["failed"].values()) == ["RuntimeError: boom"]
    # Started again: the done trial is skipped, the failed one is retried (and fails again).
    sweep_main(sweep_file, results, workers=1, trial_fn=FAKE, print_fn=lambda _: None)
    starts = {tid: sum(x[0] == "started" for x in lines) for tid, lines in _markers(results).items()}
    assert sorted(starts.values()) == [1, 2]


def test_crashing_trial_process_gets_a_failed_status(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(HERE)
    sweep_file = _sweep_file(tmp_path, grid="{'trial.loss': ['hinge']}", seeds=1, steps=5)
    summary = sweep_main(sweep_file, str(tmp_path / "r"), trial_fn="os:abort", print_fn=lambda _: None)
    assert summary["counts"]["failed"] == 1
    assert "exited with code" in list(summary["failed"].values())[0]


def test_ray_executor_runs_a_two_trial_sweep(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.syspath_prepend(HERE)
    sweep_file = _sweep_file(tmp_path, grid="{'trial.loss': ['hinge']}", seeds=2)
    results = str(tmp_path / "results")
    summary = sweep_main(sweep_file, results, executor="ray", workers=2, trial_fn=FAKE, print_fn=lambda _: None)
    assert summary["counts"]["done"] == 2
    _check_all_done_once(results, 2)


@pytest.mark.parametrize("cluster", ["local", "debug"])
def test_submitit_executor_runs_a_two_trial_sweep(tmp_path, monkeypatch, cluster):
    pytest.importorskip("submitit")
    monkeypatch.syspath_prepend(HERE)
    sweep_file = _sweep_file(tmp_path, grid="{'trial.loss': ['hinge']}", seeds=2)
    results = str(tmp_path / "results")
    summary = sweep_main(sweep_file, results, executor="slurm", workers=2, trial_fn=FAKE, cluster=cluster,
                         timeout_min=5, print_fn=lambda _: None)
    assert summary["counts"]["done"] == 2
    _check_all_done_once(results, 2)


def test_sweep_prints_one_progress_line_per_finished_trial(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(HERE)
    sweep_file = _sweep_file(tmp_path, grid="{'trial.loss': ['minimax', 'hinge']}", seeds=2, steps=5)
    results, lines = str(tmp_path / "results"), []
    sweep_main(sweep_file, results, workers=2, trial_fn=FAKE, print_fn=lines.append)
    progress = [re.match(r"^(\S+) (done|failed) in .*; (\d+)/4 trials ended \((\d+) done, 0 diverged, (\d+) failed\)",
                         line) for line in lines[:-1]]
    assert all(progress) and len(progress) == 4, lines
    assert sorted(m.group(1) for m in progress) == store.trial_ids(results)
    assert [int(m.group(3)) for m in progress] == [1, 2, 3, 4]
    for m in progress:  # each line's counts are the states of the trials named so far
        named = [p for p in progress if int(p.group(3)) <= int(m.group(3))]
        assert int(m.group(4)) == sum(p.group(2) == "done" for p in named)
        assert int(m.group(5)) == sum(p.group(2) == "failed" for p in named)
    assert all("ETA" in line for line in lines[:3]) and "ETA" not in lines[3]
    assert "4 trials: 0 pending, 0 running, 0 dead, 0 stale, 2 done, 0 diverged, 2 failed" in lines[-1]
    again = []
    sweep_main(sweep_file, results, workers=2, trial_fn=FAKE, print_fn=again.append)  # reruns the failed two
    assert len(again) == 3 and [re.search(r"(\d+)/4 trials ended", line).group(1) for line in again[:2]] == ["3", "4"]


def test_continue_to_trains_every_trial_on_under_the_same_ids(tmp_path):
    """A sweep of 30 steps, then the same sweep file with continue_to=50: every trial resumes once, from its
    step-30 checkpoint, and ends with the closed-form value of an uninterrupted 50-step run; trial.json keeps
    the sweep's own bindings. Continuing to 50 again, or to 40, runs nothing."""
    sweep_file, results = _sweep_file(tmp_path), str(tmp_path / "results")
    sweep_main(sweep_file, results, workers=2, trial_fn=FAKE, print_fn=lambda *_: None)
    records = {t: open(os.path.join(results, t, "trial.json")).read() for t in store.trial_ids(results)}
    sweep_main(sweep_file, results, workers=2, trial_fn=FAKE, continue_to=50, print_fn=lambda *_: None)
    assert store.trial_ids(results) == sorted(records)
    for tid, lines in _markers(results).items():
        record = json.loads(records[tid])
        status = json.load(open(os.path.join(results, tid, "status.json")))
        assert status["state"] == "done" and status["step"] == 50
        assert status["final_metrics"]["x"] == expected_value(record["seed"], 50)
        assert [m[0] for m in lines] == ["started", "finished", "started", "finished"]
        assert lines[2][2] == "30"  # resumed from the step-30 checkpoint, not from scratch
        assert open(os.path.join(results, tid, "trial.json")).read() == records[tid]
    for steps in (50, 40):
        sweep_main(sweep_file, results, workers=2, trial_fn=FAKE, continue_to=steps, print_fn=lambda *_: None)
        assert all(len(lines) == 4 for lines in _markers(results).values())
    with pytest.raises(ValueError, match="continue_to must be a positive number of steps"):
        sweep_main(sweep_file, results, continue_to=0)
