"""The results folder of a sweep: one sub-folder per trial id holding trial.json, leases and the trial's outputs.

    DIR/<trial_id>/trial.json          written (atomically) by the sweep before the trial first runs
    DIR/<trial_id>/lease.NNNNNN.json   who runs it now (gan_bench/sweep/lease.py)
    DIR/<trial_id>/status.json         written by the trial itself: done | diverged | failed (gan_bench/outputs.py)
    DIR/<trial_id>/worker.log          stdout/stderr of the trial's processes (local executor)

A trial's state is read from these files alone, so `status` works while sweeps run, on any host:
pending | running | dead (its worker's processes are gone from this host) | stale (its worker's heartbeat
is older than the lease TTL) | done | diverged | failed. `claim_unit` is the one way a worker takes trials.
"""
import json
import os
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from gan_bench import checkpoint
from gan_bench.atomic import atomic_write_json
from gan_bench.outputs import FINAL_STATES, clear_status, is_final, read_status
from gan_bench.sweep import lease

STATES = ("pending", "running", "dead", "stale", "done", "diverged", "failed")
_LEASE_STATES = {lease.HELD: "running", lease.DEAD: "dead", lease.STALE: "stale"}


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


def claim_unit(folders: Sequence[str], owner: str, ttl: float) -> Tuple[Dict[int, lease.Lease], List[int],
                                                                         List[int]]:
    """Claim the unfinished trials among `folders` for `owner`: ({index: lease}, finished, busy elsewhere).

    A trial found final before or right after its claim (it finished in between) is not run: its lease,
    if taken, is released at once. Busy trials are held by a live worker elsewhere.
    """
    claimed, finished, busy = {}, [], []
    for i, folder in enumerate(folders):
        if is_final(folder):
            finished.append(i)
            continue
        held = lease.try_claim(folder, owner, ttl)
        if held is not None and is_final(folder):
            held.release()
            held = None
            finished.append(i)
        elif held is None:
            busy.append(i)
        else:
            claimed[i] = held
    return claimed, finished, busy


def reopen_done(folders: Sequence[str], steps: int, owner: str, ttl: float) -> Tuple[List[int], List[int]]:
    """Make the trials done at fewer than `steps` steps resumable: their status is removed under their lease,
    so that the next run of each resumes from its last checkpoint (`sweep --continue_to`). Returns (indices
    reopened, indices already done at `steps` or more). A trial held by a live worker is left alone; diverged
    and failed trials keep their state."""
    reopened, reached = [], []
    for i, folder in enumerate(folders):
        try:
            status = read_status(folder)
        except ValueError:
            continue  # unreadable: the executor's own checks report it
        if not status or status["state"] != "done":
            continue
        if status["step"] >= steps:
            reached.append(i)
            continue
        held = lease.try_claim(folder, owner, ttl)
        if held is None:
            continue
        try:
            status = read_status(folder)  # as it is now that the trial is ours
            if status and status["state"] == "done" and status["step"] < steps:
                clear_status(folder)
                reopened.append(i)
        finally:
            held.release()
    return reopened, reached


def trial_view(folder: str, now: Optional[float] = None) -> Tuple[str, str]:
    """(state, why) of a trial from status.json and its newest lease; `why` is '' when there is nothing to say."""
    try:
        status = read_status(folder)
    except ValueError as e:  # a damaged status.json: shown, and the trial counts as failed
        status = {"state": "failed", "error": str(e)}
    if status and status["state"] in FINAL_STATES:
        return status["state"], ""
    kind, why = lease.assess(lease.current(folder)[1], now)
    if kind in _LEASE_STATES:
        return _LEASE_STATES[kind], why
    if status and status["state"] == "failed":
        return "failed", str(status.get("error", "no error recorded"))
    return "pending", ""


def trial_state(folder: str, now: Optional[float] = None) -> str:
    """One of STATES (see the module docstring)."""
    return trial_view(folder, now)[0]


def trial_ids(results: str) -> List[str]:
    """Ids of the trial folders (those with a trial.json) under `results`, sorted."""
    if not os.path.isdir(results):
        return []
    return sorted(name for name in os.listdir(results)
                  if os.path.isfile(os.path.join(results, name, "trial.json")))


def corrupt_checkpoints(folder: str) -> List[Tuple[str, str]]:
    """[(checkpoint path, what is wrong)] for the trial's checkpoints that fail their check."""
    ckpt_dir = os.path.join(folder, "ckpt")
    found = []
    for step in checkpoint.list_steps(ckpt_dir):
        problem = checkpoint.check(ckpt_dir, step)
        if problem is not None:
            found.append((checkpoint.path_of(ckpt_dir, step), problem))
    return found


def summarize(results: str, verify: bool = False) -> Dict:
    """{"counts": {state: n}, "total": n, "failed" / "dead" / "stale": {id: why}, "corrupt": {id: [(path, why)]}}.

    With `verify`, every checkpoint of every finished (done or diverged) trial is read and checked.
    """
    if not os.path.isdir(results):
        raise ValueError(f"results folder not found: {results}")
    counts = {state: 0 for state in STATES}
    notes: Dict[str, Dict[str, str]] = {"failed": {}, "dead": {}, "stale": {}}
    corrupt = {}
    now = time.time()
    for tid in trial_ids(results):
        folder = trial_dir(results, tid)
        state, why = trial_view(folder, now)
        counts[state] += 1
        if state in notes:
            notes[state][tid] = why
        if verify and state in FINAL_STATES:
            bad = corrupt_checkpoints(folder)
            if bad:
                corrupt[tid] = bad
    return {"counts": counts, **notes, "corrupt": corrupt, "verified": verify, "total": sum(counts.values())}


def format_summary(results: str, summary: Dict, max_error_chars: int = 300) -> str:
    """Human-readable status: one line of counts, then one line per failed, dead, stale or corrupt trial."""
    counts = summary["counts"]
    lines = [f"{results}: {summary['total']} trials: " + ", ".join(f"{counts[s]} {s}" for s in STATES)]

    def bindings(tid):
        record = read_json(os.path.join(trial_dir(results, tid), "trial.json")) or {}
        return json.dumps(record.get("bindings", {}), sort_keys=True)

    for state in ("dead", "stale", "failed"):
        for tid, why in sorted(summary.get(state, {}).items()):
            why = " ".join(why.split())
            if len(why) > max_error_chars:
                why = why[:max_error_chars] + "..."
            lines.append(f"  {state} {tid} {bindings(tid)}: {why}")
    for tid, bad in sorted(summary.get("corrupt", {}).items()):
        for path, why in bad:
            lines.append(f"  corrupt checkpoint {os.path.relpath(path, results)}: {why}")
    if summary.get("verified"):
        n = sum(len(bad) for bad in summary["corrupt"].values())
        lines.append(f"checkpoints of finished trials: {n} corrupt (to rebuild one, remove its trial's status.json "
                     f"and run the sweep again: the trial resumes from its newest intact checkpoint)" if n else
                     "checkpoints of finished trials: all intact")
    return "\n".join(lines)
