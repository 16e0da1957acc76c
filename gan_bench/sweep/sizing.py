"""`--population auto`: each group's population size, measured on this machine's devices.

For every group of unfinished trials that may share one compiled step (`config.population_key`), a child
process with worker slot 0's devices (`local.worker_env`) runs `gan_bench.train.population_size`: the largest
P, up to the group's size, whose compiled step fits one worker's memory. A child, because the sweep driver
must hold no accelerator memory of its own while its workers run. The decisions and what they rest on are
kept in RESULTS/population_sizes.json, so a restarted sweep asks once; delete it to measure again. When the
whole group fits (the common case on an accelerator) the child compiles one program, the very step the
population's worker then runs: with the sweep's compilation cache (RESULTS/.jax_cache) the worker loads it
from there instead of compiling it again.

Only the local executor sizes this way: Ray tasks and Slurm jobs run on other machines, whose memory this
one cannot measure (run `python -m gan_bench.train.population_size` there and give `--population P`).
"""
import hashlib
import json
import logging
import os
import subprocess
import sys
from collections import OrderedDict
from typing import Dict, List, Optional

from gan_bench.atomic import atomic_write_json
from gan_bench.outputs import FINAL_STATES
from gan_bench.sweep import store
from gan_bench.sweep.local import local_gpus, worker_env

log = logging.getLogger("gan_bench")
SIZES_FILE = "population_sizes.json"


def workers_per_device(workers: int, gpus: List[str]) -> int:
    """How many worker processes share one worker's devices (local.device_env's split; a CPU: all of them)."""
    if not gpus:
        return workers
    return 1 if workers <= len(gpus) else -(-workers // len(gpus))


def _probe_id(key: str, cap: int, workers: int, gpus: List[str], memory_bytes: Optional[int]) -> str:
    """What a stored decision was measured for: the group's key, its size, the workers, this host's devices."""
    text = json.dumps([key, cap, workers, gpus, memory_bytes, os.uname().nodename])
    return hashlib.sha1(text.encode()).hexdigest()


def _probe(trial, cap: int, sharing: int, env: Dict[str, str], memory_bytes: Optional[int]) -> dict:
    cmd = [sys.executable, "-m", "gan_bench.train.population_size", "--max", str(cap), "--sharing", str(sharing)]
    cmd += [a for f in trial.gin_files for a in ("--gin_file", f)]
    cmd += [a for b in trial.gin_bindings for a in ("--gin_binding", b)]
    if memory_bytes is not None:
        cmd += ["--memory_bytes", str(int(memory_bytes))]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"sizing the population of {trial.id} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])


def auto_sizes(results: str, groups: "OrderedDict[str, List]", workers: int,
               memory_bytes: Optional[int] = None) -> Dict[str, int]:
    """{group key: P} for the groups with more than one unfinished trial (the others need no population).

    A group whose sizing fails runs its trials one at a time, with the error logged and written to the
    sizes file; it is measured again at the next start.
    """
    gpus = local_gpus()
    sharing = workers_per_device(workers, gpus)
    env = worker_env(0, workers, gpus)
    path = os.path.join(results, SIZES_FILE)
    stored = store.read_json(path) or {}
    sizes = {}
    for key, trials in groups.items():
        if len(trials) < 2:
            continue
        probe_id = _probe_id(key, len(trials), workers, gpus, memory_bytes)
        record = stored.get(probe_id)
        if record is None or "members" not in record:
            log.info("population auto: sizing the group of %s (%d trials) on this machine", trials[0].id,
                     len(trials))
            try:
                record = _probe(trials[0], len(trials), sharing, env, memory_bytes)
            except RuntimeError as e:
                log.warning("population auto: %s; its %d trials run one at a time", e, len(trials))
                record = {"error": str(e)}
            record["trials"] = [t.id for t in trials]
            stored[probe_id] = record
            atomic_write_json(path, stored)
        sizes[key] = int(record.get("members", 1))
        log.info("population auto: %d of %d trials per population for the group of %s (%s)", sizes[key],
                 len(trials), trials[0].id, record.get("reason", record.get("error", "")))
    return sizes


def unfinished(results: str, trials: List) -> List:
    return [t for t in trials if store.trial_state(store.trial_dir(results, t.id)) not in FINAL_STATES]
