"""Local executor: N worker slots on this machine, every trial (or population) in a fresh Python process.

Trials run in their own processes because gin and JAX state are global. The driver claims each trial's
lease before starting its process and renews the leases of everything it runs from one heartbeat thread;
a child process exits on its own when the driver dies (so a killed sweep leaves no orphans and its
leases expire). Slot k gets its share of the local GPUs through `CUDA_VISIBLE_DEVICES`.
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

from gan_bench.sweep import lease, store

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


class _Running:
    def __init__(self, unit, proc, leases, started):
        self.unit, self.proc, self.leases, self.started, self.lost = unit, proc, leases, started, False


class LocalExecutor:
    """Runs units (lists of Trials) with `workers` concurrent processes; see the module docstring."""

    def __init__(self, results: str, workers: int = 1, trial_fn="gan_bench.trial:run_trial",
                 population_fn="gan_bench.trial:run_population", lease_ttl: float = 300.0,
                 poll_s: float = 0.2, owner: Optional[str] = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.results, self.workers, self.lease_ttl, self.poll_s = results, workers, lease_ttl, poll_s
        self.trial_fn, self.population_fn = trial_fn, population_fn
        self.owner = owner or f"local:{os.uname().nodename}:{os.getpid()}:{time.time_ns()}"
        self.gpus = local_gpus()
        self._lost = set()
        self._lost_lock = threading.Lock()

    def _on_lost(self, held: lease.Lease):
        with self._lost_lock:
            self._lost.add(held.path)

    def _todo(self, trial, since: float) -> bool:
        """Still to run in this invocation: not final, and not failed by another worker since we started."""
        status = store.read_status(store.trial_dir(self.results, trial.id)) or {}
        if status.get("state") in store.FINAL_STATES:
            return False
        return not (status.get("state") == "failed" and status.get("time", 0.0) >= since)

    def _start(self, slot: int, unit, held) -> subprocess.Popen:
        spec = {"results": self.results, "trial_fn": self.trial_fn, "population_fn": self.population_fn,
                "sys_path": [p for p in sys.path if p], "lease_ttl": self.lease_ttl,
                "trials": [{"id": t.id, "gin_files": list(t.gin_files), "gin_bindings": list(t.gin_bindings)}
                           for t in unit]}
        env = {**os.environ, **device_env(slot, self.workers, self.gpus)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        log_path = os.path.join(store.trial_dir(self.results, unit[0].id), "worker.log")
        with open(log_path, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "gan_bench.sweep.worker", json.dumps(spec)],
                                    stdout=out, stderr=subprocess.STDOUT, env=env)
        log.info("slot %d: started %s (pid %d)", slot, " ".join(t.id for t in unit), proc.pid)
        return proc

    def _claim(self, unit):
        """Claim what can be claimed of `unit`; returns (claimed trials, their leases, trials busy elsewhere)."""
        claimed, leases, busy = [], [], []
        for t in unit:
            folder = store.trial_dir(self.results, t.id)
            held = lease.try_claim(folder, self.owner, self.lease_ttl)
            if held is not None and store.is_final(folder):
                held.release()
                continue
            if held is None:
                busy.append(t)
            else:
                claimed.append(t)
                leases.append(held)
        return claimed, leases, busy

    def _reap(self, slot: int, run: _Running, beat: lease.Heartbeat) -> None:
        code = run.proc.returncode
        for held, t in zip(run.leases, run.unit):
            beat.remove(held)
            folder = store.trial_dir(self.results, t.id)
            status = store.read_status(folder)
            if code != 0 and not run.lost and (not status or status.get("time", 0.0) < run.started):
                store.write_failed(folder, f"trial process exited with code {code} (see worker.log)")
            held.release()
        log.info("slot %d: %s -> %s", slot, " ".join(t.id for t in run.unit),
                 ", ".join(store.trial_state(store.trial_dir(self.results, t.id)) for t in run.unit))

    def run(self, units: List[List]) -> Dict[str, str]:
        """Run every unit not yet done; returns {trial id: state} once nothing is left to run or wait for."""
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
                        self._reap(slot, run, beat)
                        del running[slot]
                next_queue = []
                for i, unit in enumerate(queue):
                    free = [s for s in range(self.workers) if s not in running]
                    if not free:
                        next_queue += queue[i:]
                        break
                    unit = [t for t in unit if self._todo(t, since)]
                    if not unit:
                        continue
                    claimed, leases, busy = self._claim(unit)
                    if busy:
                        next_queue.append(busy)  # held by a live worker elsewhere: wait for it
                    if claimed:
                        for held in leases:
                            beat.add(held)
                        running[free[0]] = _Running(claimed, self._start(free[0], claimed, leases), leases,
                                                    time.time())
                queue = next_queue
                if not running and not queue:
                    break
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
