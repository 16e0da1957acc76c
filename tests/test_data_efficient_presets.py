"""The data-efficient presets, the regularizer and augmentation fragments, and the data-efficient sweep.

Oracles: the papers' and the authors' scripts' values written here (cited in the presets), the class defaults for
the fragments, and the sweep's trial count from its grid (3 fractions x (3 + 1) arms x 3 seeds).
"""
import collections
import dataclasses
import os

import gin
import pytest

from gan_bench.config import parse_config
from gan_bench.gan import ada, consistency, diffaugment, lecam, objective, topk
from gan_bench.sweep.spec import expand_sweep

# Presets include other presets by repository-relative paths (gin resolves includes from the cwd).
pytestmark = pytest.mark.usefixtures("at_repository_root")


def _preset(name):
    return parse_config([os.path.join("gin_configs", "presets", name + ".gin")])


def test_biggan_cifar10_base_is_biggan_with_the_papers_optimization():
    cfg = _preset("biggan_cifar10")
    assert (cfg.dataset, cfg.architecture, cfg.d_norm, cfg.z_dim) == ("cifar10", "biggan", "spectral", 128)
    assert (cfg.loss, cfg.n_disc, cfg.g_lr, cfg.d_lr, cfg.beta1, cfg.beta2, cfg.batch_size, cfg.ema_decay) == (
        "hinge", 4, 2e-4, 2e-4, 0.0, 0.999, 50, 0.9999)
    assert cfg.augment == "none" and cfg.regularizers == () and cfg.eval_split == "test"


@pytest.mark.parametrize("name,augment,regularizers", [
    ("biggan_cifar10_diffaugment", diffaugment.DiffAugment(policy="translation,cutout"), ()),
    ("biggan_cifar10_ada", ada.ADA(target=0.6, interval=4, kimg=500.0), ()),
    ("biggan_cifar10_lecam_diffaugment", diffaugment.DiffAugment(policy="translation,cutout"),
     (lecam.LeCam(weight=0.3, decay=0.99, start_step=1000),)),
    ("biggan_cifar10_cr", None, (consistency.CR(weight=10.0, transform="flip,translation"),)),
])
def test_method_presets(name, augment, regularizers):
    cfg = _preset(name)
    assert cfg.loss == "hinge" and cfg.n_disc == 4  # on the base
    assert objective.configured_augmentation() == augment
    assert objective.configured_regularizers() == regularizers


@pytest.mark.parametrize("fragment,cls", [("cr", consistency.CR), ("bcr", consistency.BalancedCR),
                                          ("zcr", consistency.LatentCR), ("lecam", lecam.LeCam),
                                          ("topk", topk.TopK)])
def test_regularizer_fragments_bind_the_papers_defaults(fragment, cls):
    parse_config([os.path.join("gin_configs", "regularizers", fragment + ".gin")],
                 [f"trial.regularizers = [{fragment!r}]", "trial.dataset = 'cifar10'"])
    (built,) = objective.build_regularizers([fragment])
    assert built == cls() and any(f.name in gin.config_str() for f in dataclasses.fields(cls))


@pytest.mark.parametrize("fragment,want", [("diffaugment", diffaugment.DiffAugment()), ("ada", ada.ADA()),
                                           ("none", None)])
def test_augmentation_fragments(fragment, want):
    cfg = parse_config([os.path.join("gin_configs", "augmentations", fragment + ".gin")])
    assert cfg.augment == fragment and objective.configured_augmentation() == want


def test_data_efficient_sweep_expands_and_checks_every_trial():
    trials = expand_sweep(os.path.join("sweeps", "data_efficient_cifar10.gin"))
    arms = collections.Counter((t.bindings["trial.augment"], tuple(t.bindings["trial.regularizers"]),
                                t.bindings["trial.train_fraction"]) for t in trials)
    assert len(trials) == 36 and len(arms) == 12 and set(arms.values()) == {3}
    assert {a[:2] for a in arms} == {("none", ()), ("diffaugment", ()), ("ada", ()), ("diffaugment", ("lecam",))}
    assert {a[2] for a in arms} == {0.1, 0.2, 1.0}
