"""A real sweep (ring8 MLP trials) killed with SIGKILL mid-way and started again.

Every trial must end done exactly once, and each trial's final parameters and metrics must equal those of
an uninterrupted run of the same trial (bit for bit on CPU).
"""
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

from gan_bench import checkpoint
from gan_bench.sweep import store
from gan_bench.train import run_trial

SWEEP = textwrap.dedent("""
    trial.dataset = 'ring8'
    trial.architecture = 'mlp'
    trial.g_norm = 'none'
    trial.batch_size = 32
    trial.z_dim = 8
    trial.train_steps = 150
    trial.ckpt_every = 25
    trial.eval_every = 50
    trial.log_every = 0
    sweep.grid = {'trial.loss': ['non_saturating', 'hinge']}
    sweep.seeds = 2
""")


def _start(sweep_file, results):
    code = f"from gan_bench.sweep import sweep_main; sweep_main({sweep_file!r}, {results!r}, workers=2, lease_ttl=5.0)"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _final_ckpt(workdir):
    step = checkpoint.list_steps(os.path.join(workdir, "ckpt"))[-1]
    with open(os.path.join(workdir, "ckpt", f"ckpt_{step:09d}.msgpack"), "rb") as f:
        return step, flax.serialization.msgpack_restore(f.read())


def test_real_sweep_survives_sigkill(tmp_path):
    sweep_file, results = str(tmp_path / "sweep.gin"), str(tmp_path / "results")
    open(sweep_file, "w").write(SWEEP)
    proc = _start(sweep_file, results)
    deadline = time.time() + 240
    while time.time() < deadline:  # kill once some trial has a checkpoint but is not finished
        ids = store.trial_ids(results) if os.path.isdir(results) else []
        midway = [t for t in ids if checkpoint.list_steps(os.path.join(results, t, "ckpt"))
                  and not os.path.exists(os.path.join(results, t, "status.json"))]
        if midway:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert midway, "no trial was caught part-way"
    assert sum(os.path.exists(os.path.join(results, t, "status.json")) for t in ids) < 4
    second = _start(sweep_file, results)
    assert second.wait(timeout=600) == 0
    ids = store.trial_ids(results)
    assert len(ids) == 4
    for tid in ids:
        folder = os.path.join(results, tid)
        assert json.load(open(os.path.join(folder, "status.json")))["state"] == "done"
        record = json.load(open(os.path.join(folder, "trial.json")))
        ref = str(tmp_path / "ref" / tid)
        run_trial(ref, record["gin_files"], record["gin_bindings"])
        (s1, a), (s2, b) = _final_ckpt(folder), _final_ckpt(ref)
        assert s1 == s2 == 150
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
            np.testing.assert_array_equal(x, y)
        assert open(os.path.join(folder, "metrics.jsonl")).read() == open(os.path.join(ref, "metrics.jsonl")).read()
