"""Leases (one owner at a time, expiry takeover by exactly one taker) and the status counts of a results folder."""
import json
import os
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
    assert summary["counts"] == {"pending": 2, "running": 2, "done": 3, "diverged": 1, "failed": 1}
    assert summary["failed"] == {"e1": "ValueError: unknown loss 'hing'"}
    text = status_main(str(results))
    assert "9 trials: 2 pending, 2 running, 3 done, 1 diverged, 1 failed" in text
    assert "failed e1" in text and "unknown loss 'hing'" in text and '"trial.loss": "e1"' in text


def test_status_of_missing_folder_is_a_clear_error(tmp_path):
    try:
        status_main(str(tmp_path / "nope"))
    except ValueError as e:
        assert "results folder not found" in str(e) and "nope" in str(e)
    else:
        raise AssertionError("expected ValueError")
