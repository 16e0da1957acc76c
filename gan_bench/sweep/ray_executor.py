"""Ray executor: each unit (a trial or a population) is one Ray task with its own CPU/GPU resources.

`address=None` joins the cluster named by `RAY_ADDRESS` if set, else starts a local Ray with `workers`
CPU slots; `address='auto'` or 'host:port' joins an existing cluster. Tasks run with `max_calls=1`, so every
unit gets a fresh worker process (gin and JAX state are global), and Ray sets `CUDA_VISIBLE_DEVICES` for
GPU tasks. Each task claims its trials' leases itself (`worker.run_claimed_unit`), so a retried task or a
second sweep on the same results folder never runs a trial twice.
"""
import logging
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no ~/.ray/auth_token for a local, private Ray
import ray  # noqa: E402  pylint: disable=wrong-import-position

from gan_bench.sweep import worker  # noqa: E402  pylint: disable=wrong-import-position
from gan_bench.sweep.progress import Progress, notice_started  # noqa: E402  pylint: disable=wrong-import-position

log = logging.getLogger("gan_bench")
_POLL_S = 30.0  # how often the driver looks at the trial folders to see which tasks have started


def _task(spec: Dict) -> Tuple[Dict[str, str], float]:
    """({trial id: state}, seconds the unit ran) of one unit, run in a fresh Ray worker process."""
    owner = f"ray:{ray.get_runtime_context().get_task_id()}"  # stable across Ray's retries of this task
    t0 = time.time()
    states = worker.run_claimed_unit(spec, owner)
    return states, time.time() - t0


class RayExecutor:
    def __init__(self, results: str, workers: int = 1, trial_fn="gan_bench.train:run_trial",
                 population_fn="gan_bench.train:run_population", lease_ttl: float = 300.0,
                 address: Optional[str] = None, cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0):
        if cpus_per_trial < 0 or gpus_per_trial < 0:
            raise ValueError(f"cpus_per_trial and gpus_per_trial must be >= 0, got {cpus_per_trial}, {gpus_per_trial}")
        self.results, self.workers, self.lease_ttl = os.path.abspath(results), workers, lease_ttl
        self.trial_fn, self.population_fn = trial_fn, population_fn
        self.address = address or os.environ.get("RAY_ADDRESS")
        self.cpus, self.gpus = cpus_per_trial, gpus_per_trial

    def run(self, units: List[List], progress: Optional[Progress] = None) -> Dict[str, str]:
        progress = progress or Progress({t.id: "pending" for u in units for t in u}, self.workers,
                                        print_fn=lambda _: None)
        started_here = not ray.is_initialized()
        if started_here:
            if self.address:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=True)
            else:
                ray.init(num_cpus=max(1, int(self.workers * max(self.cpus, 1))), include_dashboard=False)
        remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_calls=1)(_task)
        refs = {}
        for unit in units:
            spec = {"results": self.results, "trial_fn": self.trial_fn, "population_fn": self.population_fn,
                    "sys_path": [p for p in sys.path if p], "lease_ttl": self.lease_ttl,
                    "trials": [{"id": t.id, "gin_files": list(t.gin_files), "gin_bindings": list(t.gin_bindings)}
                               for t in unit]}
            refs[remote.remote(spec)] = [t.id for t in unit]
        states: Dict[str, str] = {}
        try:
            pending, polled = list(refs), 0.0
            while pending:
                if time.monotonic() - polled >= _POLL_S:
                    notice_started(progress, self.results, (refs[r] for r in pending))
                    polled = time.monotonic()
                ready, pending = ray.wait(pending, num_returns=1, timeout=_POLL_S / 6)
                progress.tick()
                if not ready:
                    continue
                try:
                    unit_states, seconds = ray.get(ready[0])
                except Exception as e:  # pylint: disable=broad-except  (a lost worker: the sweep goes on)
                    log.error("ray task for %s failed: %s", refs[ready[0]], e)
                    continue
                states.update(unit_states)
                progress.finished(unit_states, refs[ready[0]], seconds)
        finally:
            if started_here:
                ray.shutdown()
        return states
