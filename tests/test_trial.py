"""The core trial: determinism, device count, resume after SIGKILL, divergence, bad config, folder layout."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import flax.serialization
import jax
import numpy as np
import pytest

from gan_bench import checkpoint
from gan_bench.train import run_trial

RING = ["trial.dataset = 'ring8'", "trial.architecture = 'mlp'", "trial.batch_size = 32",
        "trial.z_dim = 8", "trial.g_norm = 'none'", "trial.log_every = 0"]


def _params(workdir):
    steps = checkpoint.list_steps(os.path.join(workdir, "ckpt"))
    with open(os.path.join(workdir, "ckpt", f"ckpt_{steps[-1]:09d}.msgpack"), "rb") as f:
        return flax.serialization.msgpack_restore(f.read())


def _leaves(tree):
    return jax.tree_util.tree_leaves(tree)


def test_same_seed_same_params_different_seed_differs(tmp_path):
    bindings = RING + ["trial.train_steps = 6", "trial.ckpt_every = 6"]
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        status = run_trial(str(tmp_path / name), (), bindings + [f"trial.seed = {seed}"])
        assert status["state"] == "done" and status["step"] == 6
    a, b, c = (_params(str(tmp_path / n)) for n in "abc")
    for x, y in zip(_leaves(a), _leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(_leaves(a["g"]["params"]), _leaves(c["g"]["params"])))


def test_trial_folder_layout(tmp_path):
    wd = str(tmp_path / "t")
    run_trial(wd, (), RING + ["trial.train_steps = 4", "trial.ckpt_every = 2", "trial.eval_every = 2",
                              "trial.keep_ckpts = 1"])
    assert sorted(os.listdir(wd)) == ["ckpt", "config.gin", "conv_impl.json", "metrics.jsonl", "samples",
                                      "status.json", "tb"]
    rows = [json.loads(l) for l in open(os.path.join(wd, "metrics.jsonl"))]
    assert [r["step"] for r in rows] == [2, 4]
    assert checkpoint.list_steps(os.path.join(wd, "ckpt")) == [4]  # keep_ckpts = 1
    assert "trial.dataset = 'ring8'" in open(os.path.join(wd, "config.gin")).read()
    assert json.load(open(os.path.join(wd, "status.json")))["state"] == "done"
    # A second run of a done trial returns at once without training again.
    mtime = os.path.getmtime(os.path.join(wd, "status.json"))
    assert run_trial(wd, (), RING)["state"] == "done"
    assert os.path.getmtime(os.path.join(wd, "status.json")) == mtime


@pytest.mark.parametrize("binding, message", [
    ("trial.los = 'hinge'", "los"),
    ("trial.loss = 'hing'", "unknown loss 'hing'"),
    ("trial.dataset = 'nope'", "nope"),
    ("trial.d_norm = 'group'", "d_norm"),
    ("trial.batch_size = 30\ntrial.pack = 4", "pack"),
    ("unknown_scope.x = 1", "unknown_scope"),
])
def test_bad_config_fails_before_compute_and_never_looks_done(tmp_path, binding, message):
    wd = str(tmp_path / "bad")
    with pytest.raises(ValueError, match=message):
        run_trial(wd, (), RING + binding.split("\n"))
    status = json.load(open(os.path.join(wd, "status.json")))
    assert status["state"] == "failed" and message.split()[0].strip("'") in status["error"]
    assert not os.path.exists(os.path.join(wd, "ckpt"))


def test_malformed_gin_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.gin"
    bad.write_text("trial.loss = = 'x'\n")
    with pytest.raises(ValueError, match="bad.gin"):
        run_trial(str(tmp_path / "w"), (str(bad),), ())


def test_divergence_is_a_status_not_a_crash(tmp_path):
    # A learning rate of 1e38 overflows float32 at the first update.
    status = run_trial(str(tmp_path / "d"), (), RING + [
        "trial.train_steps = 50", "trial.d_lr = 1e38", "trial.g_lr = 1e38", "trial.log_every = 1",
        "trial.loss = 'wasserstein'"])
    assert status["state"] == "diverged"
    assert 0 <= status["step"] < 50


_EIGHT_DEVICES = textwrap.dedent("""
    import os, sys, json
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=" + sys.argv[2]
    import jax
    assert jax.device_count() == int(sys.argv[2])
    from gan_bench.train import run_trial
    print(json.dumps(run_trial(sys.argv[1], (), json.loads(sys.argv[3]))))
""")


def test_eight_devices_equal_one_device(tmp_path):
    bindings = RING + ["trial.train_steps = 5", "trial.ckpt_every = 5", "trial.penalty = 'wgan_gp'",
                       "trial.n_disc = 2"]
    for n in (1, 8):
        subprocess.run([sys.executable, "-c", _EIGHT_DEVICES, str(tmp_path / str(n)), str(n),
                        json.dumps(bindings)], check=True, capture_output=True)
    one, eight = _params(str(tmp_path / "1")), _params(str(tmp_path / "8"))
    for x, y in zip(_leaves(one["g"]["params"]) + _leaves(one["d"]["params"]),
                    _leaves(eight["g"]["params"]) + _leaves(eight["d"]["params"])):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


_TRAIN = textwrap.dedent("""
    import sys, json
    from gan_bench.train import run_trial
    run_trial(sys.argv[1], (), json.loads(sys.argv[2]))
""")


def test_sigkill_and_resume_is_bit_exact(tmp_path):
    steps = 400
    bindings = RING + [f"trial.train_steps = {steps}", "trial.ckpt_every = 20", "trial.eval_every = 100"]
    ref = str(tmp_path / "ref")
    subprocess.run([sys.executable, "-c", _TRAIN, ref, json.dumps(bindings)], check=True)
    wd = str(tmp_path / "killed")
    proc = subprocess.Popen([sys.executable, "-c", _TRAIN, wd, json.dumps(bindings)])
    deadline = time.time() + 300
    while not any(s >= 40 for s in checkpoint.list_steps(os.path.join(wd, "ckpt"))):
        assert proc.poll() is None and time.time() < deadline, "trial ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(checkpoint.list_steps(os.path.join(wd, "ckpt")))
    assert killed_at < steps and not os.path.exists(os.path.join(wd, "status.json"))
    subprocess.run([sys.executable, "-c", _TRAIN, wd, json.dumps(bindings)], check=True)
    for x, y in zip(_leaves(_params(ref)), _leaves(_params(wd))):
        np.testing.assert_array_equal(x, y)
    ref_rows = open(os.path.join(ref, "metrics.jsonl")).read().splitlines()
    assert open(os.path.join(wd, "metrics.jsonl")).read().splitlines() == ref_rows


def test_prefetcher_stops_when_closed_early():
    """A run that ends before train_steps (every member diverged) must not leave the loader thread running."""
    from gan_bench.train.prefetch import Prefetcher
    loaded = []

    def load(step):
        loaded.append(step)
        return step * 10

    prefetch = Prefetcher(load, range(5, 100_000), depth=2)
    assert prefetch.get() == (5, 50) and prefetch.get() == (6, 60)  # in order, from `start`
    prefetch.close()
    assert not prefetch._thread.is_alive()
    assert len(loaded) <= 2 + 2 + 1  # the two taken, a full queue of two, one load in flight


def test_prefetcher_raises_a_load_error_in_the_training_thread():
    from gan_bench.train.prefetch import Prefetcher

    def load(step):
        if step == 2:
            raise OSError("unreadable shard 2")
        return step

    prefetch = Prefetcher(load, range(10))
    assert prefetch.get() == (0, 0) and prefetch.get() == (1, 1)
    with pytest.raises(OSError, match="unreadable shard 2"):
        prefetch.get()
    prefetch.close()


def test_eval_of_a_finished_trial_matches_its_training_time_evaluation(tmp_path):
    """`gan-bench eval`: rebuilt from config.gin and the newest checkpoint, the metrics equal those the
    trial logged at that step; the result lands in eval.json and metrics.jsonl is left as it was."""
    from gan_bench.evaluate_trial import evaluate_workdir
    from gan_bench.outputs import jsonable
    wd = str(tmp_path / "t")
    run_trial(wd, (), RING + ["trial.train_steps = 400", "trial.eval_every = 400", "trial.ckpt_every = 400",
                              "trial.metrics = ['modes_2d']", "trial.eval_num_samples = 2000"])
    logged = [json.loads(line) for line in open(os.path.join(wd, "metrics.jsonl"))]
    row = evaluate_workdir(wd)
    assert row["step"] == 400 and json.load(open(os.path.join(wd, "eval.json"))) == jsonable(row)
    assert logged[-1]["high_quality_fraction"] > 0  # trained enough that the comparison is not of zeros
    for key in ("modes_covered", "high_quality_fraction", "reverse_kl"):
        assert row[key] == pytest.approx(logged[-1][key], rel=1e-6)
    assert [json.loads(line) for line in open(os.path.join(wd, "metrics.jsonl"))] == logged
    with pytest.raises(ValueError, match="not a trial folder"):
        evaluate_workdir(str(tmp_path / "missing"))
