"""The trial configuration: one frozen dataclass, filled from gin.

Every choice a study varies is a field of `TrialConfig`, bound in gin as `trial.<field> = value`.
Hyperparameters of a particular network family or metric live on that family's own gin configurable
(for example `dcgan.width = 64`). `parse_config` is the single entry point: it clears gin, parses the files
and bindings, builds the config and checks it, so a bad config fails before any compute.
"""
import dataclasses
import os
from typing import Optional, Sequence, Tuple

import gin


@gin.configurable("trial")
@dataclasses.dataclass(frozen=True)
class TrialConfig:
    """Everything one GAN training needs. Field names are the gin keys: `trial.<name>`."""

    # What to train on and with.
    dataset: str = "ring8"
    data_dir: Optional[str] = None
    eval_split: str = "test"
    architecture: str = "mlp"
    d_norm: str = "none"  # none | batch | layer | spectral | weight
    g_norm: str = "batch"  # none | batch
    bn_stats: str = "global"  # global (cross-replica) | per_device (as separate replicas)
    z_dim: int = 64
    z_dist: str = "normal"  # normal | uniform (on [-1, 1])
    # Objective.
    loss: str = "non_saturating"
    penalty: str = "none"
    penalty_weight: float = 10.0
    clip_value: float = 0.01  # used by penalty = 'weight_clipping' (WGAN)
    pack: int = 1  # PacGAN: m samples packed into one discriminator input
    # Optimization.
    batch_size: int = 64
    train_steps: int = 1000  # generator updates
    n_disc: int = 1  # discriminator updates per generator update
    optimizer: str = "adam"  # adam | rmsprop
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.0  # 0 disables the EMA of generator weights
    seed: int = 0
    # Bookkeeping.
    log_every: int = 100
    ckpt_every: int = 500
    keep_ckpts: int = 2
    eval_every: int = 0  # 0: evaluate only at the end
    sample_every: int = 0  # 0: sample grid only at the end
    metrics: Tuple[str, ...] = ()
    eval_num_samples: int = 1000

    def __post_init__(self):
        # gin passes lists; keep the dataclass hashable and its repr stable.
        object.__setattr__(self, "metrics", tuple(self.metrics))


CHOICES = {
    "d_norm": ("none", "batch", "layer", "spectral", "weight"),
    "g_norm": ("none", "batch"),
    "bn_stats": ("global", "per_device"),
    "z_dist": ("normal", "uniform"),
    "optimizer": ("adam", "rmsprop"),
}

POSITIVE = ("batch_size", "train_steps", "n_disc", "z_dim", "pack", "keep_ckpts", "eval_num_samples")
NON_NEGATIVE = ("log_every", "ckpt_every", "eval_every", "sample_every", "penalty_weight", "ema_decay")


def check_config(cfg: TrialConfig) -> None:
    """Raise ValueError naming the first field that cannot work, before any compute."""
    for name, allowed in CHOICES.items():
        value = getattr(cfg, name)
        if value not in allowed:
            raise ValueError(f"trial.{name} = {value!r} is not one of {allowed}")
    for name in POSITIVE:
        if getattr(cfg, name) <= 0:
            raise ValueError(f"trial.{name} must be > 0, got {getattr(cfg, name)!r}")
    for name in NON_NEGATIVE:
        if getattr(cfg, name) < 0:
            raise ValueError(f"trial.{name} must be >= 0, got {getattr(cfg, name)!r}")
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise ValueError(f"trial.ema_decay must be in [0, 1), got {cfg.ema_decay!r}")
    if cfg.batch_size % cfg.pack:
        raise ValueError(f"trial.batch_size = {cfg.batch_size} is not divisible by trial.pack = {cfg.pack}")
    for name in ("g_lr", "d_lr"):
        if not getattr(cfg, name) > 0:
            raise ValueError(f"trial.{name} must be > 0, got {getattr(cfg, name)!r}")
    for name in ("beta1", "beta2"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            raise ValueError(f"trial.{name} must be in [0, 1), got {getattr(cfg, name)!r}")


def parse_config(gin_files: Sequence[str] = (), gin_bindings: Sequence[str] = ()) -> TrialConfig:
    """Clear gin, parse `gin_files` then `gin_bindings`, and return the checked `TrialConfig`.

    Errors (missing file, gin syntax error, unknown configurable or parameter, bad value) are raised as
    ValueError with the file or binding that caused them.
    """
    # Importing the registries makes every configurable known to gin before parsing.
    from gan_bench import registered  # noqa: F401  pylint: disable=import-outside-toplevel

    gin.clear_config()
    for path in gin_files:
        if not os.path.isfile(path):
            raise ValueError(f"gin file not found: {path}")
    for path in gin_files:
        try:
            gin.parse_config_file(path)
        except Exception as e:  # gin raises several types; name the file.
            raise ValueError(f"cannot parse gin file {path}: {e}") from e
    for binding in gin_bindings:
        try:
            gin.parse_config(binding)
        except Exception as e:
            raise ValueError(f"bad gin binding {binding!r}: {e}") from e
    try:
        cfg = TrialConfig()
    except Exception as e:
        raise ValueError(f"invalid trial configuration: {e}") from e
    check_config(cfg)
    return cfg
