"""Leases: at most one worker runs a trial at a time, and a dead worker's trial is taken over exactly once.

A trial folder holds numbered lease files `lease.000000.json`, `lease.000001.json`, ... The newest one
is the current lease: `{"owner", "host", "pid", "pid_ns", "procs": [{"pid", "start"}], "token",
"heartbeat" (unix time of the last renewal), "ttl", "expires" (heartbeat + ttl), "released"}`.
`procs` are the processes that may write the trial folder (the lease holder, and the trial process the
local executor starts for it); `start` is each one's start time from /proc, so a reused pid is not
mistaken for the owner.
- Claim (`try_claim`, the only way to take a lease): allowed when there is no lease, or the current lease
  `g` is released, or expired (its heartbeat is older than its TTL), or *dead*: written on this host (same
  hostname and pid namespace) by processes none of which still runs. A dead lease is taken at once: a
  restarted sweep does not wait out the TTL of the one that was killed. The claim creates lease `g + 1`
  with `os.open(O_CREAT | O_EXCL)`; exactly one of any number of concurrent claimers creates a given number
  (on a local disk or NFS), so two takers of the same lease cannot both win. Taking over an expired or
  dead lease is logged, one line naming the trial, the old owner and why.
- Heartbeat: the owner rewrites its own file (gan_bench.atomic) with a new heartbeat every `ttl / 4`
  seconds. If a newer lease number exists, the owner was presumed dead and has lost the trial.
- Release: the owner marks its lease released; the next claim takes the next number at once.
A lease whose owner equals the claimer's owner name (e.g. a requeued Slurm array task) is taken over at
once: it is the same logical worker. Expiry compares wall clocks, so hosts must agree to well within `ttl`.
Whether a process runs can only be seen on its own host: a lease of another host waits for its TTL.
"""
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from typing import Callable, Dict, List, Optional, Tuple

from gan_bench.atomic import atomic_write_json

log = logging.getLogger("gan_bench")

_NAME = re.compile(r"^lease\.(\d{6,})\.json$")
_UNREADABLE_GRACE_S = 60.0  # a lease file just created and not yet written counts as live this long

# What a lease says about its trial (`assess`): nobody holds it, a live owner holds it, its owner's
# processes are gone from this host, or its heartbeat is older than its TTL.
FREE, HELD, DEAD, STALE = "free", "held", "dead", "stale"


def _path(trial_dir: str, gen: int) -> str:
    return os.path.join(trial_dir, f"lease.{gen:06d}.json")


def newest_generation(trial_dir: str) -> Optional[int]:
    if not os.path.isdir(trial_dir):
        return None
    gens = [int(m.group(1)) for m in map(_NAME.match, os.listdir(trial_dir)) if m]
    return max(gens) if gens else None


def read_lease(trial_dir: str, gen: int) -> Optional[dict]:
    """The lease's content; a file still being written reads as live for a short grace period."""
    path = _path(trial_dir, gen)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, OSError):
        try:
            return {"owner": None, "expires": os.path.getmtime(path) + _UNREADABLE_GRACE_S, "released": False}
        except FileNotFoundError:
            return None


def current(trial_dir: str) -> Tuple[Optional[int], Optional[dict]]:
    """(generation, content) of the newest lease, or (None, None)."""
    gen = newest_generation(trial_dir)
    return (gen, read_lease(trial_dir, gen)) if gen is not None else (None, None)


def is_live(info: Optional[dict], now: Optional[float] = None) -> bool:
    """Not released and not expired (time alone: see `assess` for owners known dead)."""
    return bool(info) and not info.get("released") and info["expires"] > (time.time() if now is None else now)


# --- processes -------------------------------------------------------------------------------------------

def _proc_stat(pid: int) -> Optional[List[str]]:
    """Fields of /proc/<pid>/stat after the command name (state first), or None when there is no such pid.

    Raises OSError where /proc does not exist (not Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except FileNotFoundError:
        if not os.path.isdir("/proc/self"):
            raise
        return None
    return text[text.rindex(")") + 2:].split()


def process_start(pid: int) -> Optional[int]:
    """The start time of `pid` in clock ticks since boot (Linux), or None when unknown."""
    try:
        fields = _proc_stat(pid)
    except OSError:
        return None
    return int(fields[19]) if fields else None


def process_running(pid: int, start: Optional[int] = None) -> bool:
    """Whether `pid` runs on this host (a zombie does not; nor another process that reused the pid)."""
    try:
        fields = _proc_stat(pid)
    except OSError:  # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return start is None or int(fields[19]) == start


def _pid_namespace() -> Optional[str]:
    """This process's pid namespace (two containers may share a hostname, never a pid namespace)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _on_this_host(info: dict) -> bool:
    if info.get("host") != socket.gethostname():
        return False
    ns = _pid_namespace()
    return not (info.get("pid_ns") and ns and info["pid_ns"] != ns)


def owner_processes(info: dict) -> List[dict]:
    """[{"pid", "start"?}] that may write the trial folder under this lease (older leases: the owner's pid)."""
    if info.get("procs"):
        return list(info["procs"])
    return [{"pid": info["pid"]}] if info.get("pid") else []


# --- what a lease says ------------------------------------------------------------------------------------

def format_duration(seconds: float) -> str:
    """'42 s', '5 min 07 s', '2 h 03 min': heartbeat ages here, ETAs in progress.py."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def heartbeat_of(info: dict) -> Optional[float]:
    """Unix time of the lease's last renewal (older leases: their expiry minus their TTL, when known)."""
    if "heartbeat" in info:
        return float(info["heartbeat"])
    if "ttl" in info:
        return float(info["expires"]) - float(info["ttl"])
    return None


def describe_owner(info: dict, now: Optional[float] = None) -> str:
    """'owner O on host H (pids 1, 2), last heartbeat 42 s ago' for logs and `gan-bench status`."""
    now = time.time() if now is None else now
    pids = ", ".join(str(p["pid"]) for p in owner_processes(info)) or "?"
    text = f"owner {info.get('owner') or '?'} on host {info.get('host') or '?'} (pid {pids})"
    beat = heartbeat_of(info)
    if beat is not None:
        text += f", last heartbeat {format_duration(now - beat)} ago"
    return text


def assess(info: Optional[dict], now: Optional[float] = None) -> Tuple[str, str]:
    """(FREE | HELD | DEAD | STALE, why) for the content of a trial's current lease."""
    now = time.time() if now is None else now
    if not info or info.get("released"):
        return FREE, "no lease" if not info else "released"
    if info["expires"] <= now:
        ttl = f" (ttl {format_duration(info['ttl'])})" if "ttl" in info else ""
        return STALE, f"{describe_owner(info, now)}: lease expired {format_duration(now - info['expires'])} ago{ttl}"
    procs = owner_processes(info)
    if procs and _on_this_host(info) and not any(process_running(p["pid"], p.get("start")) for p in procs):
        return DEAD, f"{describe_owner(info, now)}: no such process on this host"
    return HELD, describe_owner(info, now)


class Lease:
    """A lease held by this process on one trial folder."""

    def __init__(self, trial_dir: str, gen: int, owner: str, ttl: float):
        self.trial_dir, self.gen, self.owner, self.ttl = trial_dir, gen, owner, ttl
        self.token = uuid.uuid4().hex
        self.path = _path(trial_dir, gen)
        self._lock = threading.Lock()  # a renewal never overwrites a release
        self._released = False
        self._procs = [{"pid": os.getpid(), "start": process_start(os.getpid())}]

    def content(self, released=False) -> dict:
        now = time.time()
        return {"owner": self.owner, "host": socket.gethostname(), "pid": os.getpid(), "pid_ns": _pid_namespace(),
                "procs": list(self._procs), "token": self.token, "heartbeat": now, "ttl": self.ttl,
                "expires": 0.0 if released else now + self.ttl, "released": released}

    def lost(self) -> bool:
        """True once a newer lease exists: this owner was presumed dead and must stop."""
        newest = newest_generation(self.trial_dir)
        return newest is not None and newest > self.gen

    def add_process(self, pid: int) -> bool:
        """Record another process writing the trial folder (the trial process the holder started), so that
        the lease counts as dead only once that one is gone too. False when the lease was lost."""
        with self._lock:
            self._procs.append({"pid": pid, "start": process_start(pid)})
        return self.renew()

    def renew(self) -> bool:
        """Write a new heartbeat; False (and nothing written) when the lease was lost."""
        with self._lock:
            if self._released:
                return True
            if self.lost():
                return False
            atomic_write_json(self.path, self.content())
            return True

    def release(self) -> None:
        with self._lock:
            self._released = True
            if not self.lost():
                atomic_write_json(self.path, self.content(released=True))


def try_claim(trial_dir: str, owner: str, ttl: float) -> Optional[Lease]:
    """Claim the trial for `owner` for `ttl` seconds; None when someone else holds (or just took) it."""
    os.makedirs(trial_dir, exist_ok=True)
    gen, info = current(trial_dir)
    taking_over = None
    if gen is not None and info and info.get("owner") != owner:
        kind, why = assess(info)
        if kind == HELD:
            return None
        if kind in (DEAD, STALE):
            taking_over = why
    lease = Lease(trial_dir, 0 if gen is None else gen + 1, owner, ttl)
    try:
        fd = os.open(lease.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None  # another claimer created this generation first
    with os.fdopen(fd, "w") as f:
        json.dump(lease.content(), f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    if taking_over:
        log.warning("reclaimed trial %s from lease.%06d.json: %s", os.path.basename(os.path.normpath(trial_dir)),
                    gen, taking_over)
    return lease


class Heartbeat:
    """A daemon thread renewing leases every `interval` s; calls `on_lost(lease)` for each lost one."""

    def __init__(self, interval: float, on_lost: Callable[[Lease], None]):
        self.interval, self.on_lost = interval, on_lost
        self._leases: Dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lease-heartbeat")
        self._thread.start()

    def add(self, lease: Lease) -> None:
        with self._lock:
            self._leases[lease.path] = lease

    def remove(self, lease: Lease) -> None:
        with self._lock:
            self._leases.pop(lease.path, None)

    def _run(self):
        while not self._stop.wait(self.interval):
            with self._lock:
                leases = list(self._leases.values())
            for lease in leases:
                try:
                    ok = lease.renew()
                except OSError:
                    continue  # a transient file-system error: try again next beat
                if not ok:
                    self.remove(lease)
                    self.on_lost(lease)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
