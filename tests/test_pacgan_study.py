"""PacGAN study settings: D's batch kept under packing, a done trial continued to more steps, and G's
batch-norm mode in samples, each against an independent computation (a run of another form, an uninterrupted
run, NumPy)."""
import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from gan_bench import checkpoint, cli
from gan_bench.config import TrialConfig, config_problems, samples_per_step
from gan_bench.evaluate_trial import _generator_and_template
from gan_bench.train import run_trial
from gan_bench.train.engine import real_batches

# A small PacGAN-like ring trial: batch-norm G without hidden biases, maxout D, simultaneous updates.
TINY = ["trial.dataset = 'ring8'", "trial.architecture = 'mlp'", "trial.z_dim = 2", "trial.g_norm = 'batch'",
        "trial.g_lr = 1e-3", "trial.d_lr = 1e-3", "trial.log_every = 0", "trial.metrics = ['modes_2d']",
        "trial.eval_num_samples = 1200", "mlp.g_width = 16", "mlp.g_depth = 1", "mlp.g_activation = 'relu'",
        "mlp.g_hidden_bias = False",
        "mlp.d_width = 8", "mlp.d_depth = 1", "mlp.d_layer = 'maxout'", "mlp.maxout_pieces = 2",
        "batch_norm.epsilon = 1e-4", "batch_norm.decay = 0.9", "gan_step.update_order = 'simultaneous'",
        "gan_step.g_bn_per_pack_slot = True"]


def _train(workdir, steps, *extra):
    return run_trial(str(workdir), (), TINY + [f"trial.train_steps = {steps}", f"trial.eval_every = {steps}",
                                               f"trial.ckpt_every = {steps}", *extra])


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _last_row(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return json.loads(f.read().splitlines()[-1])


def test_pack_keeps_d_batch_checks_and_sizes():
    kept = TrialConfig(pack=3, batch_size=10, pack_keeps_d_batch=True)
    assert samples_per_step(kept) == 30 and not config_problems(kept)  # 10 need not divide by 3
    assert samples_per_step(TrialConfig(pack=3, batch_size=30)) == 30
    assert any("not divisible by trial.pack" in p for p in config_problems(TrialConfig(pack=3, batch_size=10)))
    assert any("pack_keeps_d_batch = 1 is not True or False" in p
               for p in config_problems(TrialConfig(pack_keeps_d_batch=1)))


def test_pack_keeps_d_batch_equals_the_multiplied_batch(tmp_path):
    """pack 2 over D batch 8 with the setting = pack 2 over batch 16 without it: the same real batches and
    bit-identical checkpoints and metrics (so D sees 8 packed inputs of 2 samples per step)."""
    kept = _train(tmp_path / "kept", 12, "trial.pack = 2", "trial.batch_size = 8", "trial.pack_keeps_d_batch = True")
    doubled = _train(tmp_path / "doubled", 12, "trial.pack = 2", "trial.batch_size = 16")
    assert kept["state"] == doubled["state"] == "done"
    assert _bytes(checkpoint.path_of(str(tmp_path / "kept" / "ckpt"), 12)) == \
        _bytes(checkpoint.path_of(str(tmp_path / "doubled" / "ckpt"), 12))
    assert _last_row(tmp_path / "kept") == _last_row(tmp_path / "doubled")

    class Points:  # a data set whose example i is the number i
        num_examples = 1000

        @staticmethod
        def get(idx):
            return np.asarray(idx, np.float32)[:, None]

    cfg = TrialConfig(pack=2, batch_size=8, pack_keeps_d_batch=True, n_disc=2)
    batches = real_batches(cfg, Points, 3, slice(None))
    batches = batches[0] if isinstance(batches, tuple) else batches  # (images, labels) where labels exist
    assert batches.shape == (2, 16, 1)


def test_continue_to_equals_an_uninterrupted_run(tmp_path, capsys):
    """A trial done at 10 steps, continued by `gan-bench train --continue_to 24` from its own config.gin, ends
    with the checkpoint bytes and final metrics of a trial trained for 24 steps in one go."""
    short, whole = tmp_path / "short", tmp_path / "whole"
    _train(short, 10, "trial.batch_size = 16")
    run_trial(str(whole), (), TINY + ["trial.batch_size = 16", "trial.train_steps = 24", "trial.eval_every = 10",
                                      "trial.ckpt_every = 10"])
    assert cli.main(["train", "--workdir", str(short), "--continue_to", "24", "--no_compilation_cache"]) == 0
    status = json.loads(_bytes(short / "status.json"))
    assert status["state"] == "done" and status["step"] == status["train_steps"] == 24
    assert _bytes(checkpoint.path_of(str(short / "ckpt"), 24)) == _bytes(checkpoint.path_of(str(whole / "ckpt"), 24))
    assert _last_row(short) == _last_row(whole)
    assert "trial.train_steps = 24" in _bytes(short / "config.gin").decode()
    capsys.readouterr()
    assert cli.main(["train", "--workdir", str(short), "--continue_to", "24"]) == 2  # nothing left to do
    assert "is done at step 24; expected a larger number of steps" in capsys.readouterr().err
    assert cli.main(["train", "--workdir", str(tmp_path / "none"), "--continue_to", "5"]) == 2
    assert "config.gin does not exist" in capsys.readouterr().err


def _numpy_g(params, z, mean, var, eps=1e-4):
    """The one-hidden-layer batch-norm G by hand: z W1 -> batch norm (mean, var) -> ReLU -> W_out + b."""
    p = jax.tree_util.tree_map(np.asarray, params)
    h = z @ p["fc1"]["kernel"]
    h = (h - mean) / np.sqrt(var + eps) * p["norm1"]["bn"]["scale"] + p["norm1"]["bn"]["bias"]
    return np.maximum(h, 0) @ p["out"]["kernel"] + p["out"]["bias"]


def test_g_bn_eval_modes_against_numpy(tmp_path):
    """running: the trained averages; batch: each chunk of 500 latents by its own moments; standing: the
    moments averaged over 16 training-mode passes of 500 fixed latents."""
    workdir = str(tmp_path / "t")
    _train(workdir, 20, "trial.batch_size = 16")
    from gan_bench.config import parse_config  # pylint: disable=import-outside-toplevel
    cfg = parse_config([os.path.join(workdir, "config.gin")])
    evaluator, template = _generator_and_template(cfg, workdir)
    state = checkpoint.restore_latest(os.path.join(workdir, "ckpt"), template)
    params, stats = state.g.params, jax.tree_util.tree_map(np.asarray, state.g.norm_collections["batch_stats"])
    z = np.asarray(evaluator.model.sample_z(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 0xE7A1), 1200))

    running = evaluator.samples(dataclasses.replace(cfg, g_bn_eval="running"), state, 1200)
    np.testing.assert_allclose(running, _numpy_g(params, z, stats["norm1"]["bn"]["mean"], stats["norm1"]["bn"]["var"]),
                               rtol=1e-4, atol=1e-5)

    batch = evaluator.samples(dataclasses.replace(cfg, g_bn_eval="batch"), state, 1200)
    w1 = np.asarray(params["fc1"]["kernel"])
    for lo, hi in ((0, 500), (500, 1000), (1000, 1200)):
        h = z[lo:hi] @ w1
        np.testing.assert_allclose(batch[lo:hi], _numpy_g(params, z[lo:hi], h.mean(0), h.var(0)),
                                   rtol=1e-4, atol=1e-5)

    standing = evaluator.samples(dataclasses.replace(cfg, g_bn_eval="standing"), state, 1200)
    zs = np.asarray(evaluator.model.sample_z(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 0x57A4), 16 * 500))
    hs = (zs @ w1).reshape(16, 500, -1)
    mean, var = hs.mean(1).mean(0), hs.var(1).mean(0)
    np.testing.assert_allclose(standing, _numpy_g(params, z, mean, var), rtol=1e-4, atol=1e-5)
    assert not np.allclose(standing, running, atol=1e-3) and not np.allclose(batch, running, atol=1e-3)


def test_g_bn_eval_is_checked():
    assert any("trial.g_bn_eval = 'moving' is not one of running, batch, standing" in p
               for p in config_problems(TrialConfig(g_bn_eval="moving")))


def test_pacgan_sweeps_keep_d_batch_and_evaluate_with_running_averages():
    """Table 1: 2 datasets x packs 1-4 x 10 seeds; Table 2: packs 1-4 x 10 seeds; every trial with D's batch of
    the paper (100 / 64 packed inputs, so pack * that many samples a step) and G's running averages."""
    import collections  # pylint: disable=import-outside-toplevel
    from gan_bench.config import parse_config  # pylint: disable=import-outside-toplevel
    from gan_bench.sweep.spec import expand_sweep  # pylint: disable=import-outside-toplevel
    for sweep, datasets, d_batch in (("pacgan_table1.gin", {"ring8", "grid25"}, 100),
                                     ("pacgan_table2.gin", {"stacked_mnist"}, 64)):
        trials = expand_sweep(os.path.join("sweeps", sweep))
        arms = collections.Counter((t.bindings.get("trial.dataset"), t.bindings["trial.pack"]) for t in trials)
        assert set(arms.values()) == {10} and {pack for _, pack in arms} == {1, 2, 3, 4}
        assert len(trials) == 40 * len(datasets)
        for t in trials[::10]:
            cfg = parse_config(t.gin_files, t.gin_bindings)
            assert cfg.dataset in datasets and cfg.batch_size == d_batch and cfg.pack_keeps_d_batch
            assert samples_per_step(cfg) == d_batch * cfg.pack and cfg.g_bn_eval == "running"
