"""`gan-bench stats` fills the reference-statistics cache that trials then read, and trials record the
protocol of every score (which weights of G included) in metrics.jsonl and `gan-bench eval`'s output."""
import json
import os

import gin
import numpy as np
import pytest

from gan_bench import cli, data
from gan_bench.metrics import evaluate as ev
from gan_bench.metrics import inception
from shared_data import requires_shared, shared_path

RING = ["trial.dataset = 'ring8'", "trial.architecture = 'mlp'", "trial.batch_size = 32", "trial.z_dim = 8",
        "trial.g_norm = 'none'", "trial.log_every = 0"]


@pytest.fixture
def fake_inception(monkeypatch):
    """A deterministic stand-in for the network: pool3 = per-channel means plus a constant column."""
    calls = []

    def extract(images, **kwargs):
        images = np.asarray(images)
        calls.append((len(images), kwargs.get("resize")))
        means = images.mean(axis=(1, 2))
        return {"pool3": np.concatenate([means, np.ones((len(images), 1))], axis=1).astype(np.float32),
                "logits": np.zeros((len(images), 1008), np.float32)}

    monkeypatch.setattr(inception, "extract", extract)
    monkeypatch.setattr(inception, "network_identity",
                        lambda weights_path=None: {"network": "stand_in", "weights_sha256": "cd" * 32})
    return calls


def _gin_file(tmp_path, *lines):
    path = tmp_path / "trial.gin"
    path.write_text("\n".join(["trial.dataset = 'cifar10'", f"trial.data_dir = '{shared_path('cifar10')}'",
                               "trial.architecture = 'dcgan'", "trial.eval_num_samples = 6", *lines]) + "\n")
    return str(path)


def _stats(capsys, *args):
    assert cli.main(["stats", *args]) == 0
    return json.loads(capsys.readouterr().out)


@requires_shared("cifar10")
def test_stats_command_fills_the_cache_trials_read(fake_inception, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_BENCH_CACHE", str(tmp_path / "cache"))
    gin_file = _gin_file(tmp_path)
    first = _stats(capsys, "--gin_file", gin_file)
    assert not first["already_cached"] and first["count"] == 6 and fake_inception == [(6, "bilinear")]
    assert os.path.dirname(first["path"]) == str(tmp_path / "cache" / "reference_stats")
    assert first["protocol"]["real_split"] == "test" and first["protocol"]["fake_count"] is None
    again = _stats(capsys, "--gin_file", gin_file)
    assert again["already_cached"] and again["path"] == first["path"] and len(fake_inception) == 1

    # An evaluation of the same real images (as a trial reads them) takes the cached statistics.
    test_split = data.load("cifar10", split="test", data_dir=shared_path("cifar10"))
    real = test_split.get(np.arange(6))
    gin.clear_config()
    ctx = ev.EvalContext(real=real, fake=real[::-1].copy(), dataset=test_split, split="test",
                         cache_dir=str(tmp_path / "cache"), generator_weights="final")
    row = ev.evaluate(["fid"], ctx)
    assert len(fake_inception) == 2  # only the generated images were extracted
    assert row["fid_protocol"]["real_sha256"] == first["protocol"]["real_sha256"]
    assert row["fid"] == pytest.approx(0.0, abs=1e-9)  # same images, permuted

    train = _stats(capsys, "--gin_file", gin_file, "--split", "train",
                   "--gin_binding", "inception_features.resize = 'clean'")
    assert train["path"] != first["path"] and train["protocol"]["resize"] == "clean"
    assert train["protocol"]["real_split"] == "train" and fake_inception[-1] == (6, "clean")


@requires_shared("cifar10")
def test_stats_command_rejects_bad_options_in_one_line(fake_inception, tmp_path, capsys):
    code = cli.main(["stats", "--gin_file", _gin_file(tmp_path), "--gin_binding",
                     "inception_features.resize = 'area'"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "inception_features.resize='area'" in err[0]
    assert fake_inception == []


def test_stats_command_needs_an_image_dataset(tmp_path, capsys):
    path = tmp_path / "ring.gin"
    path.write_text("\n".join(RING) + "\n")
    assert cli.main(["stats", "--gin_file", str(path)]) == 2
    assert "not images" in capsys.readouterr().err


def test_trial_and_eval_record_the_protocol_of_every_score(tmp_path):
    from gan_bench.evaluate_trial import evaluate_workdir
    from gan_bench.train import run_trial
    wd = str(tmp_path / "t")
    status = run_trial(wd, (), RING + ["trial.train_steps = 2", "trial.eval_every = 2", "trial.ckpt_every = 2",
                                       "trial.ema_decay = 0.9", "trial.truncation = 0.5",
                                       "trial.metrics = ['fid', 'kid']",
                                       "trial.eval_num_samples = 50", "kid.subset_size = 20"])
    assert status["state"] == "done"
    (logged,) = [json.loads(line) for line in open(os.path.join(wd, "metrics.jsonl"))]
    for group in ("fid", "kid"):
        record = logged[f"{group}_protocol"]
        assert record["generator_weights"] == "ema" and record["fake_count"] == 50
        assert record["truncation"] == "0.5"  # truncated latents: a score of its own protocol
        assert record["real_dataset"] == "ring8" and record["real_split"] == "test" and record["real_count"] == 50
        assert record["features"] == "raw"
    row = evaluate_workdir(wd)
    assert row["fid_protocol"] == logged["fid_protocol"] and row["fid"] == pytest.approx(logged["fid"], rel=1e-6)
