"""One training step over (architecture x loss x penalty x D normalization) combinations.

Every registered architecture, loss, penalty and normalization must build, compile and take a finite step.
The default suite runs one D normalization per architecture (rotating, so every normalization meets two or
three families) with losses and penalties rotating through their full lists, except for the families whose
preset another default test trains (`TRAINED_ELSEWHERE`), and seven (loss, penalty) pairs
on the MLP that meet every loss and penalty; `-m slow` runs every (architecture, normalization) pair, every (loss, penalty) pair
on the MLP and the full cross product. Each case costs one compile of a train step (5-20 s on two cores), so
the default suite keeps a covering subset.
"""
import itertools

import jax
import numpy as np
import pytest

from gan_bench.config import parse_config
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.penalties import PENALTIES
from gan_bench.gan.state import hparams_of
from gan_bench.nets import ARCHITECTURES, D_NORMS
from gan_bench.train.engine import Engine

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


def _one_step(image_dir, arch, loss, penalty, d_norm, g_norm):
    """The trial's own engine (config checks, data, nets, compiled init and step) takes one step with finite
    losses. The rest of a trial (samples, checkpoints, metrics) does not depend on the combination and is
    tested in test_trial.py; leaving it out saves a compile of the sampler per case."""
    bindings = TINY[arch] + _dataset(arch, image_dir) + [
        f"trial.architecture = '{arch}'", f"trial.loss = '{loss}'", f"trial.penalty = '{penalty}'",
        f"trial.d_norm = '{d_norm}'", f"trial.g_norm = '{g_norm}'", "trial.batch_size = 4", "trial.z_dim = 4",
        "trial.train_steps = 1", "trial.n_disc = 1"]
    cfg = parse_config((), bindings)
    engine = Engine(cfg, 1, stacked=False)
    state = engine.init(cfg.seed, hparams_of(cfg))
    state, logs = engine.step(state, engine.load([cfg], 0))
    logs = jax.device_get(logs)
    assert int(state.step) == 1 and int(state.nonfinite_step) == -1, logs
    assert np.isfinite([logs["d_loss"], logs["g_loss"], logs["penalty"]]).all(), logs


def _default_pair(arch, d_norm) -> bool:
    """One D normalization per architecture, rotating with its index: D_NORMS[k mod 5] for architecture k."""
    return D_NORMS.index(d_norm) == ARCHS.index(arch) % len(D_NORMS)


def _rotating_cases():
    """Every (architecture, d_norm) pair, the default ones first; losses and penalties rotate along that order,
    so that the default cases alone meet every loss and penalty."""
    pairs = sorted(itertools.product(ARCHS, D_NORMS), key=lambda pair: not _default_pair(*pair))
    cases, autoencoder_cases = [], 0
    for i, (arch, d_norm) in enumerate(pairs):
        loss = LOSS_NAMES[i % len(LOSS_NAMES)]
        if arch.endswith("_autoencoder"):  # every other autoencoder case takes the next energy loss
            if autoencoder_cases % 2 == 0:
                loss = ENERGY_LOSSES[autoencoder_cases // 2 % len(ENERGY_LOSSES)]
            autoencoder_cases += 1
        penalty = PENALTY_NAMES[i % len(PENALTY_NAMES)]  # 6 losses, 7 penalties: (i mod 6, i mod 7) all differ
        cases.append((arch, loss, penalty, d_norm, "batch" if i % 2 else "none"))
    return cases


# Families whose preset takes real training steps in another default test, with the loss it trains (the energy
# losses need an autoencoder D): their one-step cases run with -m slow.
TRAINED_ELSEWHERE = {
    "biggan": ("hinge", "tests/test_conditional_presets.py: the biggan_cifar10 preset at tiny width"),
    "began_autoencoder": ("began", "tests/test_energy_gans.py: the began_celeba preset"),
}


def _default_arch_case(case) -> bool:
    return _default_pair(case[0], case[3]) and case[0] not in TRAINED_ELSEWHERE


def _default_mlp_pair(loss, penalty) -> bool:
    """Penalty j with loss j mod 6: seven pairs that meet every loss and every penalty."""
    return LOSS_NAMES.index(loss) == PENALTY_NAMES.index(penalty) % len(LOSS_NAMES)


def _default_or_slow(case, is_default):
    return case if is_default else pytest.param(*case, marks=pytest.mark.slow)


def test_default_cases_cover_every_piece():
    """The covering subsets leave nothing untested: every architecture, normalization, loss and penalty."""
    arch_cases = [c for c in _rotating_cases() if _default_arch_case(c)]
    assert {c[0] for c in arch_cases} | set(TRAINED_ELSEWHERE) == set(ARCHS)
    assert {c[3] for c in arch_cases} == set(D_NORMS)
    elsewhere_losses = {loss for loss, _ in TRAINED_ELSEWHERE.values()}
    assert {c[1] for c in arch_cases} | elsewhere_losses == set(LOSS_NAMES) | set(ENERGY_LOSSES)
    assert {c[2] for c in arch_cases} == set(PENALTY_NAMES)
    mlp_pairs = [p for p in itertools.product(LOSS_NAMES, PENALTY_NAMES) if _default_mlp_pair(*p)]
    assert {p[0] for p in mlp_pairs} == set(LOSS_NAMES)
    assert {p[1] for p in mlp_pairs} == set(PENALTY_NAMES)


@pytest.mark.parametrize("arch, loss, penalty, d_norm, g_norm", [_default_or_slow(c, _default_arch_case(c)) for c in _rotating_cases()])
def test_architecture_normalization_pairs(image_npz, arch, loss, penalty, d_norm, g_norm):
    _one_step(image_npz, arch, loss, penalty, d_norm, g_norm)


@pytest.mark.parametrize("loss, penalty", [_default_or_slow(p, _default_mlp_pair(*p))
                                           for p in itertools.product(LOSS_NAMES, PENALTY_NAMES)])
def test_loss_penalty_pairs_on_mlp(image_npz, loss, penalty):
    _one_step(image_npz, "mlp", loss, penalty, "spectral", "batch")


@pytest.mark.slow
@pytest.mark.parametrize("arch, loss, penalty, d_norm",
                         list(itertools.product(ARCHS, LOSS_NAMES, PENALTY_NAMES, D_NORMS)))
def test_full_cross_product(image_npz, arch, loss, penalty, d_norm):
    _one_step(image_npz, arch, loss, penalty, d_norm, "batch")
