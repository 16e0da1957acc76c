"""One training step over (architecture x loss x penalty x D normalization) combinations.

Every registered architecture, loss, penalty and normalization must build, compile and take a finite step.
The default suite covers every (architecture, normalization) pair with losses and penalties rotating through
their full lists, and every (loss, penalty) pair on the MLP; `-m slow` runs the full cross product.
"""
import itertools
import json
import os

import numpy as np
import pytest

from gan_bench.gan.losses import LOSSES
from gan_bench.gan.penalties import PENALTIES
from gan_bench.nets import ARCHITECTURES, D_NORMS
from gan_bench.train import run_trial

ARCHS = sorted(ARCHITECTURES.names())
# The energy losses need an autoencoder D (gan/energy.py): they rotate through the *_autoencoder families, which
# also meet the other losses.
ENERGY_LOSSES = ("began", "ebgan")
LOSS_NAMES = sorted(n for n in LOSSES.names() if n not in ENERGY_LOSSES)
PENALTY_NAMES = sorted(PENALTIES.names())

# Tiny widths keep compile and step cheap; the layer structure is the real one.
TINY = {
    "mlp": ["mlp.g_width = 8", "mlp.d_width = 8"],
    "infogan": ["infogan.g_width = 4", "infogan.d_width = 4", "infogan.fc_width = 16"],
    "dcgan": ["dcgan.g_width = 4", "dcgan.d_width = 4"],
    "sndcgan": ["sndcgan.g_width = 4", "sndcgan.d_width = 4"],
    "resnet_cifar": ["resnet_cifar.g_width = 8", "resnet_cifar.d_width = 8"],
    "biggan": ["biggan.g_ch = 4", "biggan.d_ch = 4"],
    "sagan": ["sagan.g_ch = 4", "sagan.d_ch = 4"],
    "began_autoencoder": ["began_autoencoder.width = 4", "began_autoencoder.code_dim = 4"],
    "ebgan_autoencoder": ["ebgan_autoencoder.g_width = 4", "ebgan_autoencoder.d_width = 4",
                          "ebgan_autoencoder.fc_width = 8", "ebgan_autoencoder.code_dim = 4"],
    "dcgan_autoencoder": ["dcgan_autoencoder.g_width = 4", "dcgan_autoencoder.d_width = 4",
                          "dcgan_autoencoder.code_dim = 4"],
    "resnet_cifar_autoencoder": ["resnet_cifar_autoencoder.g_width = 8", "resnet_cifar_autoencoder.d_width = 8",
                                 "resnet_cifar_autoencoder.code_dim = 4"],
}


@pytest.fixture(scope="module")
def image_npz(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    np.savez(folder / "train.npz", images=rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8))
    return str(folder)


def _dataset(arch, image_dir):
    if arch == "mlp":
        return ["trial.dataset = 'ring8'"]
    if arch == "infogan":
        return ["trial.dataset = 'polygons'"]
    return ["trial.dataset = 'npz'", f"trial.data_dir = '{image_dir}'"]


def _one_step(tmp_path, image_dir, arch, loss, penalty, d_norm, g_norm):
    bindings = TINY[arch] + _dataset(arch, image_dir) + [
        f"trial.architecture = '{arch}'", f"trial.loss = '{loss}'", f"trial.penalty = '{penalty}'",
        f"trial.d_norm = '{d_norm}'", f"trial.g_norm = '{g_norm}'", "trial.batch_size = 4", "trial.z_dim = 4",
        "trial.train_steps = 1", "trial.n_disc = 1", "trial.log_every = 1", "trial.sample_every = 0"]
    wd = str(tmp_path / "t")
    status = run_trial(wd, (), bindings)
    assert status["state"] == "done", status
    row = [json.loads(line) for line in open(os.path.join(wd, "metrics.jsonl"))][-1]
    assert np.isfinite([row["d_loss"], row["g_loss"], row["penalty"]]).all(), row


def _rotating_cases():
    """Every (architecture, d_norm) pair; losses and penalties rotate so each meets every architecture."""
    cases = []
    for i, (arch, d_norm) in enumerate(itertools.product(ARCHS, D_NORMS)):
        loss = LOSS_NAMES[i % len(LOSS_NAMES)]
        if arch.endswith("_autoencoder") and i % 2:
            loss = ENERGY_LOSSES[i // 2 % len(ENERGY_LOSSES)]
        penalty = PENALTY_NAMES[(i + i // len(LOSS_NAMES)) % len(PENALTY_NAMES)]
        cases.append((arch, loss, penalty, d_norm, "batch" if i % 2 else "none"))
    return cases


# Families whose every (architecture, d_norm) pair runs by default; the others (autoencoders, BigGAN, SAGAN: 30
# pairs at ~15 s each on two cores) run two d_norms by default and the rest with `pytest -m slow`.
ALL_PAIRS_BY_DEFAULT = ("mlp", "infogan", "dcgan", "sndcgan", "resnet_cifar")


def _default_or_slow(case):
    arch, _, _, d_norm, _ = case
    if arch in ALL_PAIRS_BY_DEFAULT or d_norm in D_NORMS[:2]:
        return case
    return pytest.param(*case, marks=pytest.mark.slow)


@pytest.mark.parametrize("arch, loss, penalty, d_norm, g_norm", [_default_or_slow(c) for c in _rotating_cases()])
def test_architecture_normalization_pairs(tmp_path, image_npz, arch, loss, penalty, d_norm, g_norm):
    _one_step(tmp_path, image_npz, arch, loss, penalty, d_norm, g_norm)


@pytest.mark.parametrize("loss, penalty", list(itertools.product(LOSS_NAMES, PENALTY_NAMES)))
def test_loss_penalty_pairs_on_mlp(tmp_path, image_npz, loss, penalty):
    _one_step(tmp_path, image_npz, "mlp", loss, penalty, "spectral", "batch")


@pytest.mark.slow
@pytest.mark.parametrize("arch, loss, penalty, d_norm",
                         list(itertools.product(ARCHS, LOSS_NAMES, PENALTY_NAMES, D_NORMS)))
def test_full_cross_product(tmp_path, image_npz, arch, loss, penalty, d_norm):
    _one_step(tmp_path, image_npz, arch, loss, penalty, d_norm, "batch")
