"""Leases: at most one worker runs a trial at a time, and a dead worker's trial is taken over exactly once.

A trial folder holds numbered lease files `lease.000000.json`, `lease.000001.json`, ... The newest one
is the current lease: `{"owner", "host", "pid", "token", "expires" (unix time), "released"}`.
- Claim: if there is no lease, or the current lease `g` is released or expired, create lease `g + 1`
  with `os.open(O_CREAT | O_EXCL)`. Exactly one of any number of concurrent claimers creates a given
  number (on a local disk or NFS), so two takers of the same expired lease cannot both win.
- Heartbeat: the owner rewrites its own file (temp file + os.replace) with a later expiry every
  `ttl / 4` seconds. If a newer lease number exists, the owner was presumed dead and has lost the trial.
- Release: the owner marks its lease released; the next claim takes the next number at once.
A lease whose owner equals the claimer's owner name (e.g. a requeued Slurm array task) is taken over at
once: it is the same logical worker. Expiry compares wall clocks, so hosts must agree to well within `ttl`.
"""
import json
import os
import re
import socket
import threading
import time
import uuid
from typing import Callable, Dict, Optional, Tuple

from gan_bench.atomic import atomic_write_json

_NAME = re.compile(r"^lease\.(\d{6,})\.json$")
_UNREADABLE_GRACE_S = 60.0  # a lease file just created and not yet written counts as live this long


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


def is_live(info: Optional[dict], now: Optional[float] = None) -> bool:
    return bool(info) and not info.get("released") and info["expires"] > (time.time() if now is None else now)


def current(trial_dir: str) -> Tuple[Optional[int], Optional[dict]]:
    """(generation, content) of the newest lease, or (None, None)."""
    gen = newest_generation(trial_dir)
    return (gen, read_lease(trial_dir, gen)) if gen is not None else (None, None)


class Lease:
    """A lease held by this process on one trial folder."""

    def __init__(self, trial_dir: str, gen: int, owner: str, ttl: float):
        self.trial_dir, self.gen, self.owner, self.ttl = trial_dir, gen, owner, ttl
        self.token = uuid.uuid4().hex
        self.path = _path(trial_dir, gen)
        self._lock = threading.Lock()  # a renewal never overwrites a release
        self._released = False

    def content(self, released=False) -> dict:
        return {"owner": self.owner, "host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                "expires": time.time() + self.ttl, "released": released}

    def lost(self) -> bool:
        """True once a newer lease exists: this owner was presumed dead and must stop."""
        newest = newest_generation(self.trial_dir)
        return newest is not None and newest > self.gen

    def renew(self) -> bool:
        """Push the expiry forward; False (and nothing written) when the lease was lost."""
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
                atomic_write_json(self.path, {**self.content(released=True), "expires": 0.0})


def try_claim(trial_dir: str, owner: str, ttl: float) -> Optional[Lease]:
    """Claim the trial for `owner` for `ttl` seconds; None when someone else holds (or just took) it."""
    os.makedirs(trial_dir, exist_ok=True)
    gen, info = current(trial_dir)
    if gen is not None and is_live(info) and info.get("owner") != owner:
        return None
    lease = Lease(trial_dir, 0 if gen is None else gen + 1, owner, ttl)
    try:
        fd = os.open(lease.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None  # another claimer created this generation first
    with os.fdopen(fd, "w") as f:
        json.dump(lease.content(), f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
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
