"""The metric registry, the evaluation context (lazy, cached Inception features), protocol records, gin
options, reference splits and `metrics_main`.

The Inception network is replaced by a deterministic stand-in (its own tests live elsewhere), so these tests
check the wiring against closed-form values: a pure feature shift s gives FID |s|², identical sets give 0,
and the train/held-out numbers against a scipy/numpy recomputation from the dataset itself.
"""
import json
import os
import warnings

import gin
import numpy as np
import pytest
from PIL import Image
from scipy import linalg

from gan_bench import data
from gan_bench.metrics import evaluate as ev
from gan_bench.metrics import inception, protocol, reference_stats
from gan_bench.metrics.cli_metrics import load_images, metrics_main

FAKE_IDENTITY = {"network": "stand_in", "weights_sha256": "ab" * 32}


@pytest.fixture
def fake_inception(monkeypatch):
    """extract(images) -> pool3 = per-channel means and a constant column, logits = one-hot by mean brightness."""
    calls = []

    def extract(images, **kwargs):
        images = np.asarray(images)
        calls.append((images.shape, kwargs.get("resize"), kwargs.get("precision")))
        means = images.mean(axis=(1, 2))  # [N, 3]
        pool3 = np.concatenate([means, np.ones((len(images), 1))], axis=1).astype(np.float32)
        logits = np.full((len(images), 1008), -50.0, np.float32)
        logits[np.arange(len(images)), (np.digitize(means[:, 0], [-0.5, 0.0, 0.5]))] = 0.0
        return {"pool3": pool3, "logits": logits}

    monkeypatch.setattr(inception, "extract", extract)
    monkeypatch.setattr(inception, "network_identity", lambda weights_path=None: dict(FAKE_IDENTITY))
    return calls


def images(rng, n, channels=3, size=16):
    return rng.uniform(-1, 1, (n, size, size, channels)).astype(np.float32)


def test_registry_names_and_unknown_metric_fails_before_compute(fake_inception, tmp_path):
    assert set(ev.METRICS.names()) == {"fid", "inception_score", "kid", "prd", "prdc", "ms_ssim", "modes_2d",
                                       "stacked_mnist_modes", "polygon_prf", "intra_fid"}
    rng = np.random.default_rng(0)
    ctx = ev.EvalContext(real=images(rng, 8), fake=images(rng, 8), cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown metric 'fidd'"):
        ev.evaluate(["fid", "fidd"], ctx)
    assert fake_inception == []  # nothing was extracted


@pytest.mark.parametrize("binding, message", [
    ("inception_features.resize = 'bicubic'", r"inception_features.resize='bicubic'"),
    ("inception_features.precision = 'float16'", r"inception_features.precision='float16'"),
    ("fid.bootstrap = 1", r"fid.bootstrap = 1: expected 0 \(off\)"),
    ("fid.infinity_points = 1", r"fid.infinity_points = 1"),
    ("fid.reference_splits = 'train'", r"fid.reference_splits = 'train': expected a list"),
    ("fid.reference_splits = ['train', 'train']", "names a split twice"),
    ("fid.confidence = 1.5", r"fid.confidence = 1.5: expected a number strictly between 0.0 and 1.0"),
    ("kid.subset_size = 1", r"kid.subset_size = 1: expected an integer >= 2"),
])
def test_bad_metric_options_fail_before_compute(fake_inception, binding, message):
    gin.parse_config(binding)
    rng = np.random.default_rng(0)
    ctx = ev.EvalContext(real=images(rng, 4), fake=images(rng, 4))
    with pytest.raises(ValueError, match=message):
        ev.evaluate(["fid", "kid"], ctx)
    assert fake_inception == []


def test_image_metrics_protocol_records_and_cached_reference(fake_inception, tmp_path):
    rng = np.random.default_rng(1)
    real = images(rng, 40, channels=1)
    fake = real + 0.25  # pool3 shifts by 0.25 in each of the 3 (tiled) channel means: FID = 3 * 0.0625
    dataset = types_dataset("cifar10", "test")
    ctx = ev.EvalContext(real=real, fake=fake, dataset=dataset, cache_dir=str(tmp_path), split="test",
                         generator_weights="ema")
    row = ev.evaluate(["fid", "kid", "prdc", "prd", "inception_score"], ctx)
    assert row["fid"] == pytest.approx(3 * 0.25 ** 2, rel=1e-6)
    values = {k for k, v in row.items() if not isinstance(v, dict)}
    assert values == {"fid", "kid_mean", "kid_std", "prdc_precision", "prdc_recall", "prdc_density",
                      "prdc_coverage", "prd_f8", "prd_f1_8", "is_mean", "is_std"}
    assert {k for k in row if k.endswith("_protocol")} == {"fid_protocol", "kid_protocol", "prdc_protocol",
                                                           "prd_protocol", "is_protocol"}
    content = reference_stats.content_sha256(np.ascontiguousarray(real, np.float32))
    assert row["fid_protocol"] == {
        "features": "inception_pool3", "network": "stand_in", "weights_sha256": "ab" * 32, "resize": "bilinear",
        "precision": "float32", "real_dataset": "cifar10", "real_split": "test", "real_count": 40,
        "real_sha256": content[:16], "fake_count": 40, "generator_weights": "ema", "truncation": None}
    assert row["is_protocol"]["features"] == "inception_logits" and row["is_protocol"]["real_count"] is None
    for key in ("prdc_coverage", "kid_std", "is_mean"):
        assert protocol.protocol_of(row, key) is not None
    assert fake_inception[0] == ((40, 16, 16, 3), "bilinear", "float32")  # grayscale tiled; settings passed on
    assert len(fake_inception) == 2  # each set extracted once
    assert len(os.listdir(tmp_path / "reference_stats")) == 1
    again = ev.EvalContext(real=real, fake=real, dataset=dataset, cache_dir=str(tmp_path), split="test")
    assert ev.evaluate(["fid"], again)["fid"] == pytest.approx(0.0, abs=1e-9)
    assert len(fake_inception) == 3  # real features came from the disk cache


def types_dataset(name, split):
    import types
    return types.SimpleNamespace(name=name, split=split)


def test_reference_cache_invalidates_when_one_image_or_the_protocol_changes(fake_inception, tmp_path):
    rng = np.random.default_rng(2)
    real, fake = images(rng, 6), images(rng, 6)

    def run(real_images, **settings):
        ctx = ev.EvalContext(real=real_images, fake=fake, cache_dir=str(tmp_path),
                             settings=reference_stats.FeatureSettings(**settings))
        return ev.evaluate(["fid"], ctx)

    first = run(real)
    assert len(fake_inception) == 2 and len(os.listdir(tmp_path / "reference_stats")) == 1
    run(real)
    assert len(fake_inception) == 3  # fake only: real features read back
    changed = real.copy()
    changed[3, 5, 7, 1] += 0.01  # one pixel of one image
    second = run(changed)
    assert len(fake_inception) == 5 and len(os.listdir(tmp_path / "reference_stats")) == 2
    assert second["fid_protocol"]["real_sha256"] != first["fid_protocol"]["real_sha256"]
    clean = run(real, resize="clean")
    assert len(fake_inception) == 7 and len(os.listdir(tmp_path / "reference_stats")) == 3
    assert clean["fid_protocol"]["resize"] == "clean"
    assert protocol.protocol_id(clean["fid_protocol"]) != protocol.protocol_id(first["fid_protocol"])


def test_stale_or_damaged_reference_cache_is_detected_and_recomputed(fake_inception, tmp_path):
    rng = np.random.default_rng(3)
    real, fake = images(rng, 6), images(rng, 6)
    ctx = ev.EvalContext(real=real, fake=fake, cache_dir=str(tmp_path))
    expected = ev.evaluate(["fid"], ctx)["fid"]
    (path,) = [tmp_path / "reference_stats" / name for name in os.listdir(tmp_path / "reference_stats")]
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    meta = json.loads(str(arrays["meta"]))
    tampered = [dict(arrays, pool3=arrays["pool3"] + 1.0),  # arrays no longer match their recorded hash
                dict(arrays, meta=np.array(json.dumps(dict(meta, resize="tf1"))))]  # another protocol's file
    for case in tampered:
        with open(path, "wb") as f:
            np.savez(f, **case)
        calls = len(fake_inception)
        again = ev.EvalContext(real=real, fake=fake, cache_dir=str(tmp_path))
        with pytest.warns(reference_stats.StaleCacheWarning, match="ignoring reference statistics"):
            assert ev.evaluate(["fid"], again)["fid"] == pytest.approx(expected, abs=1e-12)
        assert len(fake_inception) == calls + 2  # real features recomputed, not read
    path.write_bytes(b"not an npz file")
    with pytest.warns(reference_stats.StaleCacheWarning, match="unreadable"):
        ev.evaluate(["fid"], ev.EvalContext(real=real, fake=fake, cache_dir=str(tmp_path)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", reference_stats.StaleCacheWarning)  # rewritten: now read cleanly
        ev.evaluate(["fid"], ev.EvalContext(real=real, fake=fake, cache_dir=str(tmp_path)))


def _fid_oracle(a, b):
    """pytorch-fid's formula with scipy's sqrtm."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_train_and_test_reference_splits_gap_and_memorization():
    """ring8 points: FID against train and test (same count), the gap, and the memorization fraction, all
    recomputed from gan_bench.data with scipy / brute-force numpy."""
    gin.parse_config("fid.reference_splits = ['train', 'test']")
    test_split = data.load("ring8", split="test")
    n = 300
    real = test_split.get(np.arange(n))
    train = data.load("ring8", split="train").get(np.arange(n))
    rng = np.random.default_rng(4)
    # half the samples copy training points (memorized), half are new draws near the real ones
    fake = np.concatenate([train[:150] + 1e-6, real[150:] + rng.normal(0, 0.05, (150, 2))])
    ctx = ev.EvalContext(real=real, fake=fake, dataset=test_split, split="test", generator_weights="final")
    row = ev.evaluate(["fid"], ctx)
    assert row["fid_train"] == pytest.approx(_fid_oracle(train, fake), rel=1e-6, abs=1e-9)
    assert row["fid_test"] == pytest.approx(_fid_oracle(real, fake), rel=1e-6, abs=1e-9)
    assert row["fid"] == pytest.approx(row["fid_test"], rel=1e-12)
    assert row["fid_gap"] == pytest.approx(row["fid_test"] - row["fid_train"], rel=1e-12)
    nearest = lambda q: np.sqrt(((q[:, None, :] - train[None, :, :]) ** 2).sum(-1)).min(axis=1)  # noqa: E731
    threshold = np.percentile(nearest(real), 5.0)
    assert row["memorization_threshold"] == pytest.approx(threshold, rel=1e-9)
    assert row["memorization_fraction"] == pytest.approx(np.mean(nearest(fake) < threshold))
    assert row["memorization_fraction"] >= 0.5  # the copied half is caught
    assert row["fid_train_protocol"]["real_split"] == "train" and row["fid_train_protocol"]["real_count"] == n
    assert row["fid_gap_protocol"]["real_split"] == "train+test"
    assert row["memorization_protocol"]["features"] == "raw"
    assert protocol.protocol_of(row, "memorization_fraction") == row["memorization_protocol"]


def test_reference_splits_need_the_dataset(fake_inception):
    gin.parse_config("fid.reference_splits = ['train', 'test']")
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="fid.reference_splits needs the dataset"):
        ev.evaluate(["fid"], ev.EvalContext(real=images(rng, 4), fake=images(rng, 4)))


def test_point_metrics_and_modes():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((200, 2))
    dataset = types_dataset("ring", None)
    dataset.modes, dataset.mode_std = np.array([[0.0, 0.0], [50.0, 0.0]]), 1.0
    ctx = ev.EvalContext(real=real, fake=real + np.array([3.0, 0.0]), dataset=dataset)
    row = ev.evaluate(["fid", "modes_2d"], ctx)
    assert row["fid"] == pytest.approx(9.0, rel=1e-9)
    assert row["modes_covered"] == 1.0
    assert row["fid_protocol"]["features"] == "raw" and row["fid_protocol"]["network"] is None
    with pytest.raises(ValueError, match="needs images"):
        ev.evaluate(["ms_ssim"], ctx)
    with pytest.raises(ValueError, match="modes_2d needs"):
        ev.evaluate(["modes_2d"], ev.EvalContext(real=real, fake=real))


def test_fid_options_add_interval_and_infinity():
    gin.parse_config(["fid.bootstrap = 20", "fid.infinity_points = 4", "fid.infinity_min_fraction = 0.5"])
    rng = np.random.default_rng(6)
    real, fake = rng.standard_normal((120, 2)), rng.standard_normal((80, 2)) + 1.0
    row = ev.evaluate(["fid"], ev.EvalContext(real=real, fake=fake, seed=3))
    assert row["fid_ci_low"] <= row["fid"] <= row["fid_ci_high"]
    assert np.isfinite(row["fid_infinity"]) and np.isfinite(row["fid_infinity_slope"])
    assert protocol.protocol_of(row, "fid_ci_low") == row["fid_protocol"]


def test_ms_ssim_of_copies_is_one():
    rng = np.random.default_rng(3)
    one = images(rng, 1, size=32)
    ctx = ev.EvalContext(real=one, fake=np.repeat(one, 6, axis=0))
    assert ev.evaluate(["ms_ssim"], ctx)["ms_ssim"] == pytest.approx(1.0)


def test_metrics_main_on_folders_and_npz(fake_inception, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_BENCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(4)
    real_u8 = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    folder = tmp_path / "real"
    folder.mkdir()
    for i, img in enumerate(real_u8):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    np.savez(tmp_path / "fake.npz", images=real_u8)
    np.testing.assert_allclose(load_images(str(folder)), real_u8 / 127.5 - 1.0, atol=1e-6)
    out = tmp_path / "result" / "metrics.json"
    result = metrics_main(str(folder), str(tmp_path / "fake.npz"), ["fid", "ms_ssim"], str(out))
    assert result["fid"] == pytest.approx(0.0, abs=1e-6)
    assert result["fid_protocol"]["real_dataset"] == str(folder)
    assert result["fid_protocol"]["generator_weights"] is None and result["fid_protocol"]["fake_count"] == 12
    written = json.loads(out.read_text())
    assert written["fid_protocol"] == result["fid_protocol"] and written["fid"] == pytest.approx(result["fid"])
    assert os.listdir(tmp_path / "cache" / "reference_stats")  # the one cache root
    with pytest.raises(ValueError, match="unknown metric"):
        metrics_main(str(tmp_path / "missing"), str(tmp_path / "fake.npz"), ["nope"])
    with pytest.raises(ValueError, match="missing"):
        metrics_main(str(tmp_path / "missing"), str(tmp_path / "fake.npz"), ["fid"])


def test_polygon_prf_needs_a_generator():
    rng = np.random.default_rng(5)
    ctx = ev.EvalContext(real=images(rng, 2, channels=1, size=28), fake=images(rng, 2, channels=1, size=28))
    with pytest.raises(ValueError, match="generate"):
        ev.evaluate(["polygon_prf"], ctx)
