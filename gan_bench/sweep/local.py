"""Local executor: N worker slots on this machine, every trial (or population) in a fresh Python process.

Trials run in their own processes because gin and JAX state are global. The driver claims each trial's
lease before starting its process, records the process in the lease, and renews the leases of everything
it runs from one heartbeat thread; a child process exits on its own when the driver dies, so a killed
sweep leaves no orphans, and a sweep restarted on this host takes its trials back as soon as the driver
and the trial processes are gone (other hosts wait for the lease TTL). Slot k gets its share of the local
GPUs through `CUDA_VISIBLE_DEVICES`.
"""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

from gan_bench.outputs import FINAL_STATES, mark_failed, read_status
from gan_bench.sweep import lease, store
from gan_bench.sweep.progress import Progress

log = logging.getLogger("gan_bench")
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def local_gpus() -> List[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else what `nvidia-smi` lists, else []."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() not in ("", "-1")]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def device_env(slot: int, workers: int, gpus: List[str]) -> Dict[str, str]:
    """Environment for worker slot `slot`: an equal, disjoint share of `gpus` (shared when fewer than workers)."""
    if not gpus:
        return {}
    if workers <= len(gpus):
        per = len(gpus) // workers
        return {"CUDA_VISIBLE_DEVICES": ",".join(gpus[slot * per:(slot + 1) * per])}
    # More workers than GPUs: share round-robin, and let JAX allocate on demand instead of taking 75 %.
    return {"CUDA_VISIBLE_DEVICES": gpus[slot % len(gpus)], "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def worker_env(slot: int, workers: int, gpus: List[str]) -> Dict[str, str]:
    """The environment of a process for worker slot `slot`: its devices (`device_env`) and this package on
    PYTHONPATH."""
    env = {**os.environ, **device_env(slot, workers, gpus)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    return env


class _Running:
    def __init__(self, unit, proc, leases, started):
        self.unit, self.proc, self.leases, self.started, self.lost = unit, proc, leases, started, False


class LocalExecutor:
    """Runs units (lists of Trials) with `workers` concurrent processes; see the module docstring."""

    def __init__(self, results: str, workers: int = 1, trial_fn="gan_bench.train:run_trial",
                 population_fn="gan_bench.train:run_population", lease_ttl: float = 300.0,
                 poll_s: float = 0.2, owner: Optional[str] = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.results, self.workers, self.lease_ttl, self.poll_s = results, workers, lease_ttl, poll_s
        self.trial_fn, self.population_fn = trial_fn, population_fn
        self.owner = owner or f"local:{os.uname().nodename}:{os.getpid()}:{time.time_ns()}"
        self.gpus = local_gpus()
        self._lost = set()
        self._lost_lock = threading.Lock()
        self._waiting_logged = set()  # trials held elsewhere whose wait was logged once

    def _on_lost(self, held: lease.Lease):
        with self._lost_lock:
            self._lost.add(held.path)

    def _ended(self, trial, since: float) -> Optional[str]:
        """The trial's state when there is nothing left to run in this invocation (final, or failed in
        another worker since we started), else None."""
        status = read_status(store.trial_dir(self.results, trial.id)) or {}
        if status.get("state") in FINAL_STATES:
            return status["state"]
        return "failed" if status.get("state") == "failed" and status.get("time", 0.0) >= since else None

    def _start(self, slot: int, unit, held) -> subprocess.Popen:
        spec = {"results": self.results, "trial_fn": self.trial_fn, "population_fn": self.population_fn,
                "sys_path": [p for p in sys.path if p], "lease_ttl": self.lease_ttl,
                "trials": [{"id": t.id, "gin_files": list(t.gin_files), "gin_bindings": list(t.gin_bindings)}
                           for t in unit]}
        env = worker_env(slot, self.workers, self.gpus)
        log_path = os.path.join(store.trial_dir(self.results, unit[0].id), "worker.log")
        with open(log_path, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "gan_bench.sweep.worker", json.dumps(spec)],
                                    stdout=out, stderr=subprocess.STDOUT, env=env)
        log.info("slot %d: started %s (pid %d)", slot, " ".join(t.id for t in unit), proc.pid)
        return proc

    def _claim(self, unit):
        """Claim what can be claimed of `unit`; returns (claimed trials, their leases, trials busy elsewhere)."""
        held, _, busy = store.claim_unit([store.trial_dir(self.results, t.id) for t in unit], self.owner,
                                         self.lease_ttl)
        for i in busy:
            self._log_wait(unit[i])
        return [unit[i] for i in sorted(held)], [held[i] for i in sorted(held)], [unit[i] for i in busy]

    def _log_wait(self, trial) -> None:
        """Say once per trial why the sweep waits for it, and for how long at most."""
        if trial.id in self._waiting_logged:
            return
        self._waiting_logged.add(trial.id)
        info = lease.current(store.trial_dir(self.results, trial.id))[1]
        if info:
            log.info("trial %s is held by %s; waiting for it (its lease expires in %.0f s unless renewed)",
                     trial.id, lease.describe_owner(info), max(0.0, info["expires"] - time.time()))

    def _reap(self, slot: int, run: _Running, beat: lease.Heartbeat) -> Dict[str, str]:
        """Record how the unit's process ended and release its leases; returns {trial id: state}."""
        code = run.proc.returncode
        for held, t in zip(run.leases, run.unit):
            beat.remove(held)
            folder = store.trial_dir(self.results, t.id)
            try:
                status = read_status(folder)
            except ValueError:
                status = None
            if code != 0 and not run.lost and (not status or status.get("time", 0.0) < run.started):
                mark_failed(folder, f"trial process exited with code {code} (see worker.log)")
            held.release()
        states = {t.id: store.trial_state(store.trial_dir(self.results, t.id)) for t in run.unit}
        log.info("slot %d: %s -> %s", slot, " ".join(states), ", ".join(states.values()))
        return states

    def run(self, units: List[List], progress: Optional[Progress] = None) -> Dict[str, str]:
        """Run every unit not yet done; returns {trial id: state} once nothing is left to run or wait for.

        `progress` (gan_bench.sweep.progress) hears of every trial started, ended or waited for."""
        progress = progress or Progress({t.id: "pending" for u in units for t in u}, self.workers,
                                        print_fn=lambda _: None)
        since = time.time()
        queue = [list(u) for u in units]
        running: Dict[int, _Running] = {}
        beat = lease.Heartbeat(self.lease_ttl / 4, self._on_lost)
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            while True:
                for slot, run in list(running.items()):
                    if any(h.path in self._lost for h in run.leases) and not run.lost:
                        log.error("slot %d lost its lease; stopping pid %d", slot, run.proc.pid)
                        run.lost = True
                        run.proc.kill()
                    if run.proc.poll() is not None:
                        progress.finished(self._reap(slot, run, beat), [t.id for t in run.unit])
                        del running[slot]
                next_queue = []
                for i, unit in enumerate(queue):
                    free = [s for s in range(self.workers) if s not in running]
                    if not free:
                        next_queue += queue[i:]
                        break
                    ended = {t.id: self._ended(t, since) for t in unit}
                    progress.finished({tid: s for tid, s in ended.items() if s})
                    unit = [t for t in unit if not ended[t.id]]
                    if not unit:
                        continue
                    claimed, leases, busy = self._claim(unit)
                    if busy:
                        next_queue.append(busy)  # held by a live worker elsewhere: wait for it
                        progress.running_elsewhere(t.id for t in busy)
                    if claimed:
                        proc = self._start(free[0], claimed, leases)
                        for held in leases:
                            held.add_process(proc.pid)  # the lease is dead only once this process is gone too
                            beat.add(held)
                        running[free[0]] = _Running(claimed, proc, leases, time.time())
                        progress.started([t.id for t in claimed])
                queue = next_queue
                if not running and not queue:
                    break
                progress.tick()
                time.sleep(self.poll_s)
        except BaseException:
            _stop_all(running)
            for run in running.values():
                for held in run.leases:
                    beat.remove(held)
                    held.release()  # interrupted trials stay resumable (no failed status)
            raise
        finally:
            beat.stop()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return {t.id: store.trial_state(store.trial_dir(self.results, t.id)) for u in units for t in u}


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _stop_all(running: Dict[int, _Running], grace_s: float = 10.0) -> None:
    for run in running.values():
        if run.proc.poll() is None:
            run.proc.terminate()
    deadline = time.time() + grace_s
    for run in running.values():
        try:
            run.proc.wait(max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()
