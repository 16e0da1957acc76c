"""Precision/recall/density/coverage against the `prdc` package (clovaai/generative-evaluation-prdc)."""
import numpy as np
import pytest

from gan_bench.metrics import prdc

prdc_reference = pytest.importorskip("prdc")


@pytest.mark.parametrize("block_size", [2048, 7])  # one block, and many small row blocks (chunked path)
def test_matches_prdc_package(block_size, capsys):
    rng = np.random.default_rng(0)
    real = rng.standard_normal((120, 16)).astype(np.float32)
    fake = (rng.standard_normal((90, 16)) * 1.3 + 0.4).astype(np.float32)
    expected = prdc_reference.compute_prdc(real, fake, nearest_k=5)
    ours = prdc(real, fake, nearest_k=5, block_size=block_size)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(float(expected[key]), abs=1e-12), key


def test_matches_prdc_package_other_k():
    rng = np.random.default_rng(1)
    real, fake = rng.uniform(size=(80, 3)), rng.uniform(size=(80, 3)) ** 2
    expected = prdc_reference.compute_prdc(real, fake, nearest_k=3)
    ours = prdc(real, fake, nearest_k=3, block_size=16)
    assert ours == pytest.approx({k: float(v) for k, v in expected.items()}, abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="nearest_k"):
        prdc(np.zeros((5, 2)), np.zeros((5, 2)), nearest_k=5)
    with pytest.raises(ValueError, match="same d"):
        prdc(np.zeros((5, 2)), np.zeros((5, 3)))
