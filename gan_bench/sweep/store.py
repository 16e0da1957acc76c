"""The results folder of a sweep: one sub-folder per trial id holding trial.json, leases and the trial's outputs.

    DIR/<trial_id>/trial.json          written (atomically) by the sweep before the trial first runs
    DIR/<trial_id>/lease.NNNNNN.json   who runs it now (gan_bench/sweep/lease.py)
    DIR/<trial_id>/status.json         written by the trial itself: done | diverged | failed
    DIR/<trial_id>/worker.log          stdout/stderr of the trial's processes (local executor)

A trial's state is read from these files alone, so `status` works while sweeps run, on any host.
"""
import json
import os
import time
from typing import Dict, Iterable, List, Optional

from gan_bench.sweep import lease
from gan_bench.atomic import atomic_write_json

FINAL_STATES = ("done", "diverged")
STATES = ("pending", "running", "done", "diverged", "failed")


def trial_dir(results: str, trial_id: str) -> str:
    return os.path.join(results, trial_id)


def write_records(results: str, records: Iterable[dict]) -> int:
    """Write DIR/<id>/trial.json for every record that has none yet; returns how many were written."""
    written = 0
    for record in records:
        folder = trial_dir(results, record["id"])
        path = os.path.join(folder, "trial.json")
        if os.path.exists(path):
            continue
        os.makedirs(folder, exist_ok=True)
        atomic_write_json(path, record)
        written += 1
    return written


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def read_status(folder: str) -> Optional[dict]:
    """status.json of a trial folder (same file as gan_bench.outputs.read_status, without importing JAX)."""
    return read_json(os.path.join(folder, "status.json"))


def write_failed(folder: str, error: str) -> None:
    """Record a trial whose process died without writing its own status (killed, out of memory, ...)."""
    previous = read_status(folder) or {}
    atomic_write_json(os.path.join(folder, "status.json"),
                      {"state": "failed", "step": int(previous.get("step") or 0), "time": time.time(),
                       "error": error})


def is_final(folder: str) -> bool:
    status = read_status(folder)
    return bool(status) and status.get("state") in FINAL_STATES


def trial_state(folder: str, now: Optional[float] = None) -> str:
    """pending | running | done | diverged | failed, from status.json and the newest lease."""
    status = read_status(folder)
    if status and status.get("state") in FINAL_STATES:
        return status["state"]
    if lease.is_live(lease.current(folder)[1], now):
        return "running"
    if status and status.get("state") == "failed":
        return "failed"
    return "pending"


def trial_ids(results: str) -> List[str]:
    """Ids of the trial folders (those with a trial.json) under `results`, sorted."""
    if not os.path.isdir(results):
        return []
    return sorted(name for name in os.listdir(results)
                  if os.path.isfile(os.path.join(results, name, "trial.json")))


def summarize(results: str) -> Dict:
    """{"counts": {state: n}, "failed": {id: error}, "total": n} over every trial folder in `results`."""
    if not os.path.isdir(results):
        raise ValueError(f"results folder not found: {results}")
    counts = {state: 0 for state in STATES}
    failed = {}
    now = time.time()
    for tid in trial_ids(results):
        folder = trial_dir(results, tid)
        state = trial_state(folder, now)
        counts[state] += 1
        if state == "failed":
            failed[tid] = str((read_status(folder) or {}).get("error", "no error recorded"))
    return {"counts": counts, "failed": failed, "total": sum(counts.values())}


def format_summary(results: str, summary: Dict, max_error_chars: int = 300) -> str:
    """Human-readable status: one line of counts, then each failed trial's bindings and error."""
    counts = summary["counts"]
    lines = [f"{results}: {summary['total']} trials: " + ", ".join(f"{counts[s]} {s}" for s in STATES)]
    for tid, error in sorted(summary["failed"].items()):
        record = read_json(os.path.join(trial_dir(results, tid), "trial.json")) or {}
        error = " ".join(error.split())
        if len(error) > max_error_chars:
            error = error[:max_error_chars] + "..."
        lines.append(f"  failed {tid} {json.dumps(record.get('bindings', {}), sort_keys=True)}: {error}")
    return "\n".join(lines)
