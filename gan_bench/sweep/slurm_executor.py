"""Slurm executor: one submitit job array per sweep, one array task per unit, resources from options.

`cluster=None` lets submitit pick Slurm when `sbatch` exists; `cluster='local'` (subprocesses) and
`'debug'` (in this process) run the same code here, for tests. Array tasks are `Checkpointable`: on
preemption or timeout submitit requeues them and the trial resumes from its last checkpoint. The lease
owner is the array task's id, stable across requeues, so a requeued task takes its own lease back at once.
With `wait=False` the driver returns after submitting; follow progress with `gan-bench status DIR`.
"""
import logging
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

import submitit

from gan_bench.sweep import worker
from gan_bench.sweep.progress import Progress, notice_started

log = logging.getLogger("gan_bench")
_POLL_S = 30.0  # how often the waiting driver looks at the trial folders and the jobs


class ArrayTask(submitit.helpers.Checkpointable):
    """One array element; `checkpoint()` (inherited) resubmits the same call, which resumes the trial."""

    def __call__(self, spec: Dict) -> Tuple[Dict[str, str], float]:
        """({trial id: state}, seconds the unit ran)."""
        try:
            owner = f"slurm:{submitit.JobEnvironment().job_id}"
        except RuntimeError:  # the debug executor runs outside a job environment
            owner = f"debug:{os.uname().nodename}:{os.getpid()}"
        t0 = time.time()
        states = worker.run_claimed_unit(spec, owner)
        return states, time.time() - t0


class SlurmExecutor:
    def __init__(self, results: str, workers: int = 1, trial_fn="gan_bench.train:run_trial",
                 population_fn="gan_bench.train:run_population", lease_ttl: float = 300.0,
                 cluster: Optional[str] = None, partition: Optional[str] = None, timeout_min: int = 24 * 60,
                 cpus_per_task: int = 4, gpus_per_node: int = 0, mem_gb: Optional[float] = None,
                 array_parallelism: Optional[int] = None, additional_parameters: Optional[Dict] = None,
                 wait: Optional[bool] = None):
        if cluster not in (None, "slurm", "local", "debug"):
            raise ValueError(f"cluster must be slurm, local or debug, got {cluster!r}")
        self.results, self.lease_ttl = os.path.abspath(results), lease_ttl
        self.trial_fn, self.population_fn = trial_fn, population_fn
        self.cluster = cluster
        self.params = {"timeout_min": timeout_min, "cpus_per_task": cpus_per_task, "gpus_per_node": gpus_per_node,
                       "slurm_array_parallelism": array_parallelism or workers, "name": "gan_bench_sweep"}
        if mem_gb is not None:
            self.params["mem_gb"] = mem_gb
        if partition:
            self.params["slurm_partition"] = partition
        if additional_parameters:
            self.params["slurm_additional_parameters"] = dict(additional_parameters)
        self.wait = (cluster in ("local", "debug")) if wait is None else wait

    def run(self, units: List[List], progress: Optional[Progress] = None) -> Dict[str, str]:
        progress = progress or Progress({t.id: "pending" for u in units for t in u}, self.workers,
                                        print_fn=lambda _: None)
        folder = os.path.join(self.results, "_submitit", "%j")
        executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster)
        executor.update_parameters(**self.params)
        specs = [{"results": self.results, "trial_fn": self.trial_fn, "population_fn": self.population_fn,
                  "sys_path": [p for p in sys.path if p], "lease_ttl": self.lease_ttl,
                  "trials": [{"id": t.id, "gin_files": list(t.gin_files), "gin_bindings": list(t.gin_bindings)}
                             for t in unit]} for unit in units]
        jobs = executor.map_array(ArrayTask(), specs)
        log.info("submitted %d array tasks (job %s), logs in %s", len(jobs), jobs[0].job_id if jobs else "-",
                 os.path.dirname(folder))
        states: Dict[str, str] = {}
        if not self.wait:
            return states
        waiting, polled = list(zip(jobs, specs)), float("-inf")
        while waiting:
            if time.monotonic() - polled >= _POLL_S:
                notice_started(progress, self.results, ([t["id"] for t in spec["trials"]] for _, spec in waiting))
                polled = time.monotonic()
            finished = [job.done() for job, _ in waiting]
            done = [w for w, f in zip(waiting, finished) if f]
            waiting = [w for w, f in zip(waiting, finished) if not f]
            for job, spec in done:
                ids = [t["id"] for t in spec["trials"]]
                try:
                    unit_states, seconds = job.result()
                except Exception as e:  # pylint: disable=broad-except  (one failed task: the sweep goes on)
                    log.error("array task %s for %s failed: %s", job.job_id, ids, e)
                    continue
                states.update(unit_states)
                progress.finished(unit_states, ids, seconds)
            progress.tick()
            if waiting:
                time.sleep(1.0 if self.cluster in ("local", "debug") else 5.0)
        return states
