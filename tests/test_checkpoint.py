"""Checkpoint integrity: checksums, resume past a corrupt newest checkpoint (bit-identical to an uninterrupted
run), configuration mismatches kept apart from corruption, `gan-bench status --verify` and `gan-bench eval`.

The oracle for "the same final state" is a ring8 MLP trial run once without interruption; checksums are
checked with coreutils' `sha256sum -c` and hashlib.
"""
import hashlib
import json
import logging
import os
import shutil
import subprocess

import flax.serialization
import jax
import numpy as np
import pytest

from gan_bench import checkpoint, cli
from gan_bench.train import run_trial

RING = ["trial.dataset = 'ring8'", "trial.architecture = 'mlp'", "trial.batch_size = 32", "trial.z_dim = 8",
        "trial.g_norm = 'none'", "trial.log_every = 0", "trial.train_steps = 30", "trial.ckpt_every = 10",
        "trial.keep_ckpts = 3", "trial.eval_every = 10", "trial.metrics = ['modes_2d']",
        "trial.eval_num_samples = 500"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A trial run from step 0 to 30 without interruption, checkpoints at 10, 20 and 30."""
    workdir = str(tmp_path_factory.mktemp("ckpt") / "reference")
    assert run_trial(workdir, (), RING)["state"] == "done"
    return workdir


def _ckpt(workdir, step):
    return os.path.join(workdir, "ckpt", f"ckpt_{step:09d}.msgpack")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _truncate(path):
    data = _read(path)
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])


def _flip(path):
    data = bytearray(_read(path))
    data[len(data) // 3] ^= 0x10
    with open(path, "wb") as f:
        f.write(bytes(data))


def _interrupted_copy(reference, tmp_path):
    """The reference folder as a kill after its last checkpoint and before status.json would leave it."""
    workdir = str(tmp_path / "resumed")
    shutil.copytree(reference, workdir)
    os.remove(os.path.join(workdir, "status.json"))
    return workdir


def test_checksums_are_sha256sum_compatible(reference):
    ckpt_dir = os.path.join(reference, "ckpt")
    files = sorted(f for f in os.listdir(ckpt_dir) if f.endswith(".sha256"))
    assert files == [f"ckpt_{s:09d}.msgpack.sha256" for s in (10, 20, 30)]
    subprocess.run(["sha256sum", "--quiet", "-c"] + files, cwd=ckpt_dir, check=True)
    for step in (10, 20, 30):
        recorded = open(_ckpt(reference, step) + ".sha256").read().split()[0]
        assert recorded == hashlib.sha256(_read(_ckpt(reference, step))).hexdigest()


@pytest.mark.parametrize("damage, resume_from", [
    ({30: _truncate}, 20),
    ({30: _flip}, 20),
    ({30: _flip, 20: _truncate}, 10),
    ({30: _truncate, 20: _flip, 10: _flip}, 0),
])
def test_resume_skips_corrupt_checkpoints_and_ends_bit_identical(reference, tmp_path, caplog, damage, resume_from):
    workdir = _interrupted_copy(reference, tmp_path)
    for step, spoil in damage.items():
        spoil(_ckpt(workdir, step))
    with caplog.at_level(logging.INFO, logger="gan_bench"):
        assert run_trial(workdir, (), RING)["state"] == "done"
    assert any(f"steps {resume_from}..30" in r.getMessage() for r in caplog.records)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "corrupt" in r.getMessage()]
    assert len(warnings) == len(damage)
    for step in damage:
        moved = os.path.join(workdir, "ckpt", "corrupt", f"ckpt_{step:09d}.msgpack")
        assert os.path.exists(moved) and any(_ckpt(workdir, step) in w and moved in w for w in warnings)
    assert _read(_ckpt(workdir, 30)) == _read(_ckpt(reference, 30))
    assert open(os.path.join(workdir, "metrics.jsonl")).read() == open(os.path.join(reference, "metrics.jsonl")).read()
    assert checkpoint.check(os.path.join(workdir, "ckpt"), 30) is None


def test_checkpoints_without_checksum_still_load_and_truncated_ones_are_caught(reference, tmp_path, caplog):
    """Checkpoints saved before checksums: an intact one loads, a truncated one is recognized by parsing."""
    workdir = _interrupted_copy(reference, tmp_path)
    for step in (10, 20, 30):
        os.remove(_ckpt(workdir, step) + ".sha256")
    ckpt_dir = os.path.join(workdir, "ckpt")
    raw = flax.serialization.msgpack_restore(_read(_ckpt(workdir, 20)))
    for x, y in zip(jax.tree_util.tree_leaves(checkpoint.restore(ckpt_dir, 20, raw)), jax.tree_util.tree_leaves(raw)):
        np.testing.assert_array_equal(x, y)
    _truncate(_ckpt(workdir, 30))
    assert "do not parse" in checkpoint.check(ckpt_dir, 30)
    with caplog.at_level(logging.INFO, logger="gan_bench"):
        run_trial(workdir, (), RING)
    assert any("steps 20..30" in r.getMessage() for r in caplog.records)
    assert _read(_ckpt(workdir, 30)) == _read(_ckpt(reference, 30))


def test_a_checkpoint_of_another_configuration_is_a_config_error_and_stays(reference, tmp_path):
    workdir = _interrupted_copy(reference, tmp_path)
    before = _read(_ckpt(workdir, 30))
    with pytest.raises(ValueError, match=r"ckpt_000000030.msgpack does not match this trial's configuration: .*"
                                         r"is float32\[8, \d+\] in the checkpoint, float32\[16, \d+\] in this trial"):
        run_trial(workdir, (), RING + ["trial.z_dim = 16"])  # same keys, other shapes
    with pytest.raises(ValueError, match="does not match this trial's configuration"):
        run_trial(workdir, (), RING + ["trial.d_norm = 'layer'"])  # other keys
    assert _read(_ckpt(workdir, 30)) == before and not os.path.exists(os.path.join(workdir, "ckpt", "corrupt"))


def test_save_replaces_a_stale_checksum_and_keeps_the_newest(tmp_path):
    ckpt_dir = str(tmp_path / "ckpt")
    os.makedirs(ckpt_dir)
    with open(os.path.join(ckpt_dir, "ckpt_000000004.msgpack.sha256"), "w") as f:
        f.write("0" * 64 + "  ckpt_000000004.msgpack\n")  # left by an earlier file of the same step
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.int32(4)}
    for step in (2, 3, 4):
        checkpoint.save(ckpt_dir, step, state, keep=2)
    assert sorted(os.listdir(ckpt_dir)) == [f"ckpt_00000000{s}.msgpack{x}" for s in (3, 4) for x in ("", ".sha256")]
    assert checkpoint.check(ckpt_dir, 4) is None
    np.testing.assert_array_equal(checkpoint.restore(ckpt_dir, 4, state)["w"], state["w"])


def _sweep_results(reference, tmp_path):
    results = tmp_path / "results"
    for tid in ("intact", "spoiled"):
        shutil.copytree(reference, results / tid)
        (results / tid / "trial.json").write_text(json.dumps({"id": tid, "bindings": {}}))
    return str(results)


def test_status_verify_reports_corrupt_checkpoints_of_finished_trials(reference, tmp_path, capsys):
    results = _sweep_results(reference, tmp_path)
    assert cli.main(["status", results, "--verify"]) == 0
    assert "all intact" in capsys.readouterr().out
    _flip(_ckpt(os.path.join(results, "spoiled"), 30))
    assert cli.main(["status", results]) == 0  # without --verify no checkpoint is read
    assert "corrupt" not in capsys.readouterr().out
    assert cli.main(["status", results, "--verify"]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "corrupt checkpoint" in line]
    assert len(lines) == 1 and os.path.join("spoiled", "ckpt", "ckpt_000000030.msgpack") in lines[0]
    assert "SHA-256" in lines[0] and "2 done" in out and "1 corrupt" in out


def test_eval_of_a_corrupt_newest_checkpoint_is_one_line(reference, tmp_path, capsys):
    workdir = str(tmp_path / "done")
    shutil.copytree(reference, workdir)
    _truncate(_ckpt(workdir, 30))
    assert cli.main(["eval", "--workdir", workdir, "--metrics", "modes_2d"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ckpt_000000030.msgpack is corrupt" in err[0] and "SHA-256" in err[0]
    assert os.path.exists(_ckpt(workdir, 30))  # eval reads; it moves nothing
