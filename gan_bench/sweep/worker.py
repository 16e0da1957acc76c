"""What runs on a worker: one unit (a trial, or a population of trials trained together) in this process.

A unit spec is plain JSON so that it can cross process, Ray and Slurm boundaries:
    {"results": DIR, "trials": [{"id", "gin_files", "gin_bindings"}, ...],
     "trial_fn": "module:function", "population_fn": "module:function", "sys_path": [...], "lease_ttl": s}
`trial_fn(workdir, gin_files, gin_bindings) -> status` is `gan_bench.train:run_trial` unless a test or a
user swaps it; `population_fn(workdirs, gin_files_list, gin_bindings_list)` runs units of more than one.

`python -m gan_bench.sweep.worker SPEC_JSON` runs a unit whose leases the parent holds (local executor);
`run_claimed_unit(spec, owner)` claims the leases itself and keeps them alive (Ray tasks, Slurm arrays).
"""
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
from typing import Dict, List

from gan_bench.outputs import mark_failed, read_status
from gan_bench.sweep import lease, store

log = logging.getLogger("gan_bench")
EXIT_LEASE_LOST = 3


def resolve(path):
    """'package.module:function' -> the function (callables pass through)."""
    if callable(path):
        return path
    module, _, name = str(path).partition(":")
    if not module or not name:
        raise ValueError(f"expected 'module:function', got {path!r}")
    return getattr(importlib.import_module(module), name)


def _workdirs(spec) -> List[str]:
    return [store.trial_dir(spec["results"], t["id"]) for t in spec["trials"]]


def run_unit(spec: Dict):
    """Run the unit's trials here; returns what the trial (or population) function returns."""
    for path in spec.get("sys_path", []):
        if path not in sys.path:
            sys.path.append(path)
    from gan_bench.jax_cache import enable_if_requested  # pylint: disable=import-outside-toplevel
    enable_if_requested()  # set by `gan-bench sweep`: reuse compiled steps across trials
    trials, workdirs = spec["trials"], _workdirs(spec)
    if len(trials) == 1:
        return resolve(spec["trial_fn"])(workdirs[0], trials[0]["gin_files"], trials[0]["gin_bindings"])
    return resolve(spec["population_fn"])(workdirs, [t["gin_files"] for t in trials],
                                          [t["gin_bindings"] for t in trials])


def run_claimed_unit(spec: Dict, owner: str) -> Dict[str, str]:
    """Claim, run and release the unit's unfinished trials; returns {trial id: state afterwards}.

    Trials leased by someone else are left alone ("busy"). If a lease is lost (this worker was presumed
    dead and another took over), the process exits at once so that the trial never runs twice.
    """
    ttl = float(spec.get("lease_ttl", 300.0))
    folders = _workdirs(spec)
    held, finished, busy = store.claim_unit(folders, owner, ttl)
    result = {spec["trials"][i]["id"]: read_status(folders[i])["state"] for i in finished}
    result.update({spec["trials"][i]["id"]: "busy" for i in busy})
    claimed = [(spec["trials"][i], held[i]) for i in sorted(held)]
    if not claimed:
        return result

    def lost(held):
        log.error("lease %s lost to another worker; stopping this process", held.path)
        os._exit(EXIT_LEASE_LOST)  # pylint: disable=protected-access

    beat = lease.Heartbeat(ttl / 4, lost)
    for _, held in claimed:
        beat.add(held)
    started = time.time()
    try:
        run_unit({**spec, "trials": [t for t, _ in claimed]})
    except Exception:  # the trial records its own failure; the sweep goes on
        error = traceback.format_exc()
        log.error("trial unit %s failed:\n%s", [t["id"] for t, _ in claimed], error)
        for t, held in claimed:
            try:
                status = read_status(held.trial_dir)
            except ValueError:
                status = None
            if not status or status.get("time", 0.0) < started:  # the trial wrote nothing of this run
                mark_failed(held.trial_dir, error.strip().splitlines()[-1])
    finally:
        beat.stop()
        for _, held in claimed:
            held.release()
    for t, held in claimed:
        result[t["id"]] = (read_status(held.trial_dir) or {}).get("state", "pending")
    return result


def _exit_with_parent():
    """Leave as soon as the parent (the sweep driver) is gone, so a killed sweep leaves no orphans."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.2)
            if os.getppid() != parent:
                os._exit(1)  # pylint: disable=protected-access

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    _exit_with_parent()
    spec = json.loads(argv[0])
    try:
        run_unit(spec)
    except Exception:  # pylint: disable=broad-except
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
