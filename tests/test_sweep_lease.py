"""Leases (one owner at a time, takeover of expired or dead leases by exactly one taker) and `gan-bench status`."""
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from gan_bench.sweep import lease, status_main, store


def _race(folder, n, ttl=5.0):
    """n threads claim `folder` at the same instant; returns the leases won."""
    barrier, won = threading.Barrier(n), []

    def claim(i):
        barrier.wait()
        held = lease.try_claim(folder, f"taker{i}", ttl)
        if held is not None:
            won.append(held)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def test_fresh_claim_race_has_one_winner(tmp_path):
    for round_ in range(15):
        won = _race(str(tmp_path / f"t{round_}"), 8)
        assert len(won) == 1


def test_live_lease_blocks_others_expired_lease_is_taken_over_once(tmp_path):
    folder = str(tmp_path / "t")
    dead = lease.try_claim(folder, "dead-worker", ttl=0.3)
    assert dead is not None
    assert lease.try_claim(folder, "other", ttl=5.0) is None
    time.sleep(0.4)  # the owner stopped renewing: its lease expires
    won = _race(folder, 8)
    assert len(won) == 1 and won[0].gen == dead.gen + 1
    # The presumed-dead owner learns that it lost, and cannot extend or release the new owner's lease.
    assert dead.lost() and not dead.renew()
    dead.release()
    assert lease.is_live(lease.current(folder)[1])
    assert lease.current(folder)[1]["owner"] == won[0].owner


def test_heartbeat_keeps_a_lease_past_its_ttl_and_release_frees_it(tmp_path):
    folder = str(tmp_path / "t")
    held = lease.try_claim(folder, "a", ttl=0.4)
    beat = lease.Heartbeat(0.1, on_lost=lambda _: None)
    beat.add(held)
    time.sleep(1.0)
    assert lease.try_claim(folder, "b", ttl=5.0) is None
    beat.remove(held)
    beat.stop()
    held.release()
    assert not lease.is_live(lease.current(folder)[1])
    assert lease.try_claim(folder, "b", ttl=5.0) is not None


def test_heartbeat_reports_a_lost_lease(tmp_path):
    folder = str(tmp_path / "t")
    held = lease.try_claim(folder, "a", ttl=0.2)
    time.sleep(0.3)
    assert lease.try_claim(folder, "b", ttl=5.0) is not None
    lost = []
    beat = lease.Heartbeat(0.05, on_lost=lost.append)
    beat.add(held)
    time.sleep(0.3)
    beat.stop()
    assert lost == [held]


def test_same_owner_takes_its_own_live_lease_back(tmp_path):
    """A requeued job (same owner name) continues at once instead of waiting for its old lease to expire."""
    folder = str(tmp_path / "t")
    first = lease.try_claim(folder, "slurm:123_4", ttl=60.0)
    again = lease.try_claim(folder, "slurm:123_4", ttl=60.0)
    assert again is not None and again.gen == first.gen + 1 and first.lost()


def test_half_written_lease_counts_as_live(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "lease.000000.json").write_text("")  # created with O_EXCL, content not yet written
    assert lease.try_claim(str(folder), "b", ttl=5.0) is None


def _trial(results, tid, state=None, error=None, leased=False):
    folder = results / tid
    folder.mkdir(parents=True)
    (folder / "trial.json").write_text(json.dumps({"id": tid, "bindings": {"trial.loss": tid}}))
    if state:
        status = {"state": state, "step": 3, "time": time.time()}
        if error:
            status["error"] = error
        (folder / "status.json").write_text(json.dumps(status))
    if leased:
        assert lease.try_claim(str(folder), "w", ttl=60.0) is not None


def test_status_counts_every_state_and_lists_errors(tmp_path):
    results = tmp_path / "results"
    _trial(results, "a1")
    _trial(results, "a2")
    _trial(results, "b1", leased=True)
    _trial(results, "b2", state="failed", error="old failure", leased=True)  # being retried: running
    for i in range(3):
        _trial(results, f"c{i}", state="done")
    _trial(results, "d1", state="diverged")
    _trial(results, "e1", state="failed", error="ValueError: unknown loss 'hing'")
    os.makedirs(results / "not_a_trial")
    summary = store.summarize(str(results))
    assert summary["counts"] == {"pending": 2, "running": 2, "dead": 0, "stale": 0, "done": 3, "diverged": 1,
                                 "failed": 1}
    assert summary["failed"] == {"e1": "ValueError: unknown loss 'hing'"}
    text = status_main(str(results))
    assert "9 trials: 2 pending, 2 running, 0 dead, 0 stale, 3 done, 1 diverged, 1 failed" in text
    assert "failed e1" in text and "unknown loss 'hing'" in text and '"trial.loss": "e1"' in text


def test_status_of_missing_folder_is_a_clear_error(tmp_path):
    try:
        status_main(str(tmp_path / "nope"))
    except ValueError as e:
        assert "results folder not found" in str(e) and "nope" in str(e)
    else:
        raise AssertionError("expected ValueError")


# --- dead and stale owners --------------------------------------------------------------------------------
# A holder is a separate process that claims a trial with the real code and keeps the lease until killed,
# optionally pretending to run on another host.
_HOLDER = """
import socket, sys
if sys.argv[3]:
    socket.gethostname = lambda: sys.argv[3]
from gan_bench.sweep import lease
held = lease.try_claim(sys.argv[1], "holder", float(sys.argv[2]))
print("claimed" if held else "busy", flush=True)
sys.stdin.readline()
"""


def _holder(folder, ttl, host=""):
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, folder, str(ttl), host], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "claimed"
    return proc


def _kill(proc):
    proc.kill()
    proc.wait()  # reaped: the pid no longer exists on this host
    assert not os.path.exists(f"/proc/{proc.pid}") or sys.platform != "linux"


def _trial_folder(results, tid):
    folder = results / tid
    folder.mkdir(parents=True)
    (folder / "trial.json").write_text(json.dumps({"id": tid, "bindings": {"trial.seed": 0}}))
    return str(folder)


def test_lease_of_a_killed_process_on_this_host_is_reclaimed_at_once(tmp_path, caplog):
    results = tmp_path / "results"
    folder = _trial_folder(results, "t1")
    holder = _holder(folder, ttl=300.0)
    assert lease.try_claim(folder, "b", ttl=300.0) is None  # its owner runs: not taken
    assert store.trial_state(folder) == "running"
    _kill(holder)
    state, why = store.trial_view(folder)
    assert state == "dead" and f"pid {holder.pid}" in why and "no such process" in why
    text = status_main(str(results))
    assert "0 running, 1 dead" in text and "dead t1" in text and "last heartbeat" in text
    with caplog.at_level(logging.WARNING, logger="gan_bench"):
        won = lease.try_claim(folder, "b", ttl=300.0)  # long before the TTL of 300 s
    assert won is not None and won.gen == 1
    reclaimed = [r.getMessage() for r in caplog.records if "reclaimed" in r.getMessage()]
    assert len(reclaimed) == 1
    assert all(part in reclaimed[0] for part in ("t1", "lease.000000.json", "holder", str(holder.pid),
                                                 "no such process"))
    assert store.trial_state(folder) == "running"


def test_lease_of_another_host_waits_for_its_ttl(tmp_path, caplog):
    results = tmp_path / "results"
    folder = _trial_folder(results, "t1")
    holder = _holder(folder, ttl=3.0, host="another-host")
    _kill(holder)  # gone, but its host is not this one: nothing here can tell
    assert lease.try_claim(folder, "b", ttl=60.0) is None
    assert store.trial_state(folder) == "running"
    expires = lease.current(folder)[1]["expires"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    state, why = store.trial_view(folder)
    assert state == "stale" and "another-host" in why and "expired" in why
    assert "1 stale" in status_main(str(results)) and "stale t1" in status_main(str(results))
    with caplog.at_level(logging.WARNING, logger="gan_bench"):
        assert lease.try_claim(folder, "b", ttl=60.0) is not None
    assert any("reclaimed" in r.getMessage() and "expired" in r.getMessage() for r in caplog.records)


def test_a_reused_pid_is_not_the_owner():
    start = lease.process_start(os.getpid())
    with open(f"/proc/{os.getpid()}/stat") as f:  # the kernel's own record: field 22, after the command
        assert start == int(f.read().rsplit(")", 1)[1].split()[19])
    assert lease.process_running(os.getpid(), start)
    assert not lease.process_running(os.getpid(), start + 1)  # same pid, another process


def test_trial_process_recorded_in_the_lease_keeps_it_alive(tmp_path):
    """The local executor records the trial process it starts: the lease is dead only once that one is gone."""
    folder = str(tmp_path / "t")
    script = "import sys; from gan_bench.sweep import lease; h = lease.try_claim(sys.argv[1], 'drv', 300.0); " \
             "import subprocess; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); " \
             "h.add_process(c.pid); print(c.pid, flush=True); sys.stdin.readline()"
    driver = subprocess.Popen([sys.executable, "-c", script, folder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    child = int(driver.stdout.readline())
    try:
        _kill(driver)
        assert os.path.exists(f"/proc/{child}")
        assert store.trial_state(folder) == "running" and lease.try_claim(folder, "b", 300.0) is None
    finally:
        os.kill(child, signal.SIGKILL)
    while os.path.exists(f"/proc/{child}") and open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)  # reparented: reaped by init, or a zombie until then
    assert store.trial_state(folder) == "dead" and lease.try_claim(folder, "b", 300.0) is not None


_CLAIMER = """
import sys, time
from gan_bench.sweep import lease
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
print("won" if lease.try_claim(sys.argv[1], sys.argv[3], 300.0) else "lost", flush=True)
sys.stdin.readline()  # a winner stays alive (holding its lease) until every claimer has tried
"""


def test_concurrent_processes_never_both_win_a_dead_lease(tmp_path):
    for round_ in range(3):
        folder = str(tmp_path / f"t{round_}")
        _kill(_holder(folder, ttl=300.0))
        at = time.time() + 1.5  # every claimer has started and imported by then
        procs = [subprocess.Popen([sys.executable, "-c", _CLAIMER, folder, str(at), f"c{i}"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for i in range(6)]
        outcomes = [p.stdout.readline().strip() for p in procs]
        for p in procs:
            p.communicate("\n", timeout=60)
        assert sorted(outcomes) == ["lost"] * 5 + ["won"], outcomes
        assert lease.newest_generation(folder) == 1
    won = _race(str(tmp_path / "threads"), 8)  # and threads racing on a dead lease
    assert len(won) == 1
    folder = str(tmp_path / "dead_threads")
    _kill(_holder(folder, ttl=300.0))
    won = _race(folder, 8)
    assert len(won) == 1 and won[0].gen == 1
