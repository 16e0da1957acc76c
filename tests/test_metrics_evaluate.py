"""The metric registry, the evaluation context (lazy, cached Inception features) and `metrics_main`.

The Inception network is replaced by a deterministic stand-in (its own tests live elsewhere), so these tests
check the wiring against closed-form values: a pure feature shift s gives FID |s|², identical sets give 0.
"""
import json
import os
import sys
import types

import numpy as np
import pytest
from PIL import Image

import gan_bench.metrics
from gan_bench.metrics import evaluate as ev
from gan_bench.metrics.cli_metrics import load_images, metrics_main


@pytest.fixture
def fake_inception(monkeypatch):
    """extract(images) -> pool3 = per-channel means and a constant column, logits = one-hot by mean brightness."""
    calls = []

    def extract(images, **_):
        images = np.asarray(images)
        calls.append(images.shape)
        means = images.mean(axis=(1, 2))  # [N, 3]
        pool3 = np.concatenate([means, np.ones((len(images), 1))], axis=1).astype(np.float32)
        logits = np.full((len(images), 1008), -50.0, np.float32)
        logits[np.arange(len(images)), (np.digitize(means[:, 0], [-0.5, 0.0, 0.5]))] = 0.0
        return {"pool3": pool3, "logits": logits}

    module = types.ModuleType("gan_bench.metrics.inception")
    module.extract = extract
    monkeypatch.setitem(sys.modules, "gan_bench.metrics.inception", module)
    monkeypatch.setattr(gan_bench.metrics, "inception", module, raising=False)
    return calls


def images(rng, n, channels=3, size=16):
    return rng.uniform(-1, 1, (n, size, size, channels)).astype(np.float32)


def test_registry_names_and_unknown_metric_fails_before_compute(fake_inception, tmp_path):
    assert set(ev.METRICS.names()) == {"fid", "inception_score", "kid", "prd", "prdc", "ms_ssim", "modes_2d",
                                       "stacked_mnist_modes", "polygon_prf"}
    rng = np.random.default_rng(0)
    ctx = ev.EvalContext(real=images(rng, 8), fake=images(rng, 8), cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown metric 'fidd'"):
        ev.evaluate(["fid", "fidd"], ctx)
    assert fake_inception == []  # nothing was extracted


def test_image_metrics_with_features_cached(fake_inception, tmp_path):
    rng = np.random.default_rng(1)
    real = images(rng, 40, channels=1)
    fake = real + 0.25  # pool3 shifts by 0.25 in each of the 3 (tiled) channel means: FID = 3 * 0.0625
    ctx = ev.EvalContext(real=real, fake=fake, cache_dir=str(tmp_path), split="test")
    row = ev.evaluate(["fid", "kid", "prdc", "prd", "inception_score"], ctx)
    assert row["fid"] == pytest.approx(3 * 0.25 ** 2, rel=1e-6)
    assert set(row) == {"fid", "kid_mean", "kid_std", "prdc_precision", "prdc_recall", "prdc_density",
                        "prdc_coverage", "prd_f8", "prd_f1_8", "is_mean", "is_std"}
    assert fake_inception == [(40, 16, 16, 3), (40, 16, 16, 3)]  # grayscale tiled; each set extracted once
    assert len(os.listdir(tmp_path / "inception")) == 1
    again = ev.EvalContext(real=real, fake=real, cache_dir=str(tmp_path), split="test")
    assert ev.evaluate(["fid"], again)["fid"] == pytest.approx(0.0, abs=1e-9)
    assert len(fake_inception) == 3  # real features came from the disk cache


def test_point_metrics_and_modes():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((200, 2))
    dataset = types.SimpleNamespace(name="ring", modes=np.array([[0.0, 0.0], [50.0, 0.0]]), mode_std=1.0)
    ctx = ev.EvalContext(real=real, fake=real + np.array([3.0, 0.0]), dataset=dataset)
    row = ev.evaluate(["fid", "modes_2d"], ctx)
    assert row["fid"] == pytest.approx(9.0, rel=1e-9)
    assert row["modes_covered"] == 1.0
    with pytest.raises(ValueError, match="needs images"):
        ev.evaluate(["ms_ssim"], ctx)
    with pytest.raises(ValueError, match="modes_2d needs"):
        ev.evaluate(["modes_2d"], ev.EvalContext(real=real, fake=real))


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
    assert json.loads(out.read_text()) == pytest.approx(result)
    with pytest.raises(ValueError, match="unknown metric"):
        metrics_main(str(tmp_path / "missing"), str(tmp_path / "fake.npz"), ["nope"])
    with pytest.raises(ValueError, match="neither an image folder nor an .npz"):
        metrics_main(str(tmp_path / "missing"), str(tmp_path / "fake.npz"), ["fid"])


def test_polygon_prf_needs_a_generator():
    rng = np.random.default_rng(5)
    ctx = ev.EvalContext(real=images(rng, 2, channels=1, size=28), fake=images(rng, 2, channels=1, size=28))
    with pytest.raises(ValueError, match="generate"):
        ev.evaluate(["polygon_prf"], ctx)
