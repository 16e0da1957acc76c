"""The trial configuration: one frozen dataclass, filled from gin.

Every choice a study varies is a field of `TrialConfig`, bound in gin as `trial.<field> = value`.
Hyperparameters of a particular network family or metric live on that family's own gin configurable
(for example `dcgan.width = 64`). `parse_config` is the single entry point: it clears gin, parses the files
and bindings, builds the config and checks it, so a bad config fails before any compute.
"""
import dataclasses
import logging
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

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
    conv_impl: str = "auto"  # auto | xla | cpu_tuned: how the nets convolve (gan_bench/nets/conv_choice.py)
    precision: str = "float32"  # float32 | tf32 | bf16: matmul / conv precision (gan_bench/precision.py)
    # Generator steps per compiled call (a `lax.scan` of the step; the loop falls back to single steps where an
    # action is due inside a call). > 1 removes the per-step dispatch that bounds small nets; the same
    # steps, compiled apart (equal to float32 rounding, docs/ARCHITECTURE.md).
    steps_per_call: int = 1
    z_dim: int = 64
    z_dist: str = "normal"  # normal | uniform (on [-1, 1])
    # Objective.
    loss: str = "non_saturating"
    penalty: str = "none"
    penalty_weight: float = 10.0
    clip_value: float = 0.01  # used by penalty = 'weight_clipping' (WGAN)
    pack: int = 1  # PacGAN: m samples packed into one discriminator input
    # PacGAN's own batching: True draws pack * batch_size real and fake samples per step, so D still sees
    # batch_size packed inputs of each (as the PacGAN code does); False packs the batch_size samples into
    # batch_size / pack inputs. `samples_per_step` below.
    pack_keeps_d_batch: bool = False
    regularizers: Tuple[str, ...] = ()  # e.g. ['cr', 'lecam']; each one's weights on its gin configurable
    augment: str = "none"  # none | diffaugment | ada: every image D sees, real and fake (gan/augment.py)
    train_fraction: float = 1.0  # train on a fixed subset of this fraction of the training split
    train_subset_seed: int = 0  # which subset (gan_bench/data/subset.py); independent of trial.seed
    # Class conditioning (labels from the dataset; the nets' modes in gan_bench/nets).
    g_conditioning: str = "none"  # none | concat | cbn | self_mod (self_mod: BN from z, no labels)
    d_conditioning: str = "none"  # none | concat | projection | ac
    ac_weight: float = 1.0  # AC-GAN: weight of the class head's cross-entropy (d_conditioning = 'ac')
    self_supervision: str = "none"  # none | rotation: SS-GAN's 4-way rotation head (gan/auxiliary.py)
    # Optimization.
    batch_size: int = 64
    train_steps: int = 1000  # generator updates
    n_disc: int = 1  # discriminator updates per generator update
    optimizer: str = "adam"  # adam | rmsprop
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    # Scales g_lr and d_lr by a factor of the generator step: constant | linear (SNGAN's decay to 0; gan/schedules.py)
    lr_schedule: str = "constant"
    ema_decay: float = 0.0  # 0 disables the EMA of generator weights
    ema_start: int = 0  # the EMA copies G's weights until G's update number ema_start (BigGAN's ema_start)
    truncation: float = 0.0  # > 0: samples and evaluations redraw z values beyond it (BigGAN's truncation trick)
    seed: int = 0
    # Bookkeeping.
    log_every: int = 100
    ckpt_every: int = 500
    keep_ckpts: int = 2
    eval_every: int = 0  # 0: evaluate only at the end
    sample_every: int = 0  # 0: sample grid only at the end
    metrics: Tuple[str, ...] = ()
    eval_num_samples: int = 1000
    g_bn_eval: str = "running"  # running | batch | standing: G's batch norm in samples and metrics (nets/bn_eval.py)

    def __post_init__(self):
        # gin passes lists; keep the dataclass hashable and its repr stable.
        # A string is left as it is for check_config to refuse (tuple('fid') would be ('f', 'i', 'd')).
        for name in LIST_FIELDS:
            if isinstance(getattr(self, name), (list, tuple)):
                object.__setattr__(self, name, tuple(getattr(self, name)))


CHOICES = {
    "d_norm": ("none", "batch", "layer", "spectral", "weight"),
    "g_norm": ("none", "batch"),
    "bn_stats": ("global", "per_device"),
    "conv_impl": ("auto", "xla", "cpu_tuned"),
    "precision": ("float32", "tf32", "bf16"),
    "z_dist": ("normal", "uniform"),
    "optimizer": ("adam", "rmsprop"),
    "g_bn_eval": ("running", "batch", "standing"),  # nets.bn_eval.BN_EVAL_MODES
    # The contract's conditioning modes (nets.G_CONDITIONINGS / nets.D_CONDITIONINGS; kept here too so that
    # checking a configuration imports no JAX).
    "g_conditioning": ("none", "concat", "cbn", "self_mod"),
    "d_conditioning": ("none", "concat", "projection", "ac"),
    "self_supervision": ("none", "rotation"),
}
# Conditioning modes that feed class labels to the network (self_mod modulates by z alone).
LABELLED_G, LABELLED_D = ("concat", "cbn"), ("concat", "projection", "ac")

POSITIVE = ("batch_size", "train_steps", "n_disc", "z_dim", "pack", "keep_ckpts", "eval_num_samples",
            "steps_per_call")
NON_NEGATIVE = ("log_every", "ckpt_every", "eval_every", "sample_every", "penalty_weight", "ema_decay",
                "train_subset_seed", "ac_weight", "ema_start", "truncation")
UNIT_INTERVAL = ("beta1", "beta2", "ema_decay")  # [0, 1)
ENERGY_LOSSES = ("began", "ebgan")  # losses completed by a term with gin keys (gan/energy.py)
# Fields whose values name a registered piece (the registry is looked up lazily: it imports JAX).
REGISTRY_FIELDS = ("dataset", "architecture", "loss", "penalty", "metrics", "regularizers", "augment",
                   "lr_schedule")
# List-valued fields (gin gives lists; kept as tuples) and an example of each for error messages.
LIST_FIELDS = {"metrics": "['fid', 'kid']", "regularizers": "['cr', 'lecam']"}


def _registries() -> dict:
    from gan_bench.data import DATASETS  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.losses import LOSSES  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.penalties import PENALTIES  # pylint: disable=import-outside-toplevel
    from gan_bench.metrics.evaluate import METRICS  # pylint: disable=import-outside-toplevel
    from gan_bench.nets import ARCHITECTURES  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.objective import AUGMENTATIONS, REGULARIZERS  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.schedules import LR_SCHEDULES  # pylint: disable=import-outside-toplevel

    return {"dataset": DATASETS, "architecture": ARCHITECTURES, "loss": LOSSES, "penalty": PENALTIES,
            "metrics": METRICS, "regularizers": REGULARIZERS, "augment": AUGMENTATIONS, "lr_schedule": LR_SCHEDULES}


def _type_problem(name: str, value) -> Optional[str]:
    """What is wrong with the type of `value` for field `name` (from the dataclass annotation), or None."""
    kind = {f.name: f.type for f in dataclasses.fields(TrialConfig)}[name]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int and not (isinstance(value, int) and not isinstance(value, bool)):
        return "an integer"
    if kind is bool and not isinstance(value, bool):
        return "True or False"
    if kind is float and not is_number:
        return "a number"
    if kind is str and not isinstance(value, str):
        return "a string"
    if kind == Optional[str] and not (value is None or isinstance(value, str)):
        return "a string or None"
    if kind == Tuple[str, ...] and not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
        return f"a list of names like {LIST_FIELDS.get(name, '[...]')}"
    return None


def check_field(name: str, value) -> Optional[str]:
    """What is wrong with `trial.<name> = value` on its own (type, registered name, choice, range), or None.

    One sentence naming the key, the value and what was expected (the known names, with a "did you mean"
    for a close one). Used for every trial and, by sweeps, for every value a random search may choose.
    """
    from gan_bench.registry import did_you_mean, plural  # pylint: disable=import-outside-toplevel

    expected = _type_problem(name, value)
    if expected:
        return f"trial.{name} = {value!r} is not {expected}"
    if name in REGISTRY_FIELDS:
        registry = _registries()[name]
        for item in (value if name in LIST_FIELDS else [value]):
            if item not in registry:
                return (f"trial.{name}: unknown {registry.kind} {item!r}; known {plural(registry.kind)}: "
                        f"{', '.join(registry.names())}{did_you_mean(item, registry.names())}")
    if name in CHOICES and value not in CHOICES[name]:
        return f"trial.{name} = {value!r} is not one of {', '.join(CHOICES[name])}{did_you_mean(value, CHOICES[name])}"
    if name in POSITIVE + ("g_lr", "d_lr") and not value > 0:
        return f"trial.{name} must be > 0, got {value!r}"
    if name in NON_NEGATIVE and not value >= 0:
        return f"trial.{name} must be >= 0, got {value!r}"
    if name in UNIT_INTERVAL and not 0.0 <= value < 1.0:
        return f"trial.{name} must be in [0, 1), got {value!r}"
    if name == "train_fraction" and not 0.0 < value <= 1.0:
        return f"trial.train_fraction must be in (0, 1], got {value!r}"
    return None


def config_problems(cfg: TrialConfig) -> List[str]:
    """Every field of `cfg` that cannot work, one sentence each (empty when the config is good).

    Checks each field (`check_field`: types, registered names of dataset, architecture, loss, penalty and
    metrics, choices, ranges), then the fields that constrain each other. Nothing is built: a sweep runs this
    on every trial before the first one starts.
    """
    problems = [p for p in (check_field(f.name, getattr(cfg, f.name)) for f in dataclasses.fields(TrialConfig)) if p]
    if not problems and cfg.batch_size % cfg.pack and not cfg.pack_keeps_d_batch:
        problems.append(f"trial.batch_size = {cfg.batch_size} is not divisible by trial.pack = {cfg.pack}")
    if not problems:
        problems += conditioning_problems(cfg)
    if not problems:
        from gan_bench.gan import schedules  # pylint: disable=import-outside-toplevel
        problems += schedules.problems(cfg.lr_schedule, cfg.train_steps)  # its gin keys against the length
    if not problems and (cfg.regularizers or cfg.augment != "none" or cfg.loss in ENERGY_LOSSES):
        from gan_bench.gan import objective  # pylint: disable=import-outside-toplevel
        problems += objective.problems(cfg)  # their gin keys, pairs, top-k and the loss
    return problems


# trial.<field> -> (whether cfg reads it, why not): fields that only some choices of other fields read. Not
# listed: protocol switches a preset sets for every variant of its study (trial.pack_keeps_d_batch, which
# PacGAN's presets set also for the unpacked GAN).
DEPENDENT_FIELDS = {
    "penalty_weight": (lambda c: c.penalty not in ("none", "weight_clipping"),
                       lambda c: f"trial.penalty = {c.penalty!r} adds no weighted term"),
    "clip_value": (lambda c: c.penalty == "weight_clipping",
                   lambda c: f"trial.penalty = {c.penalty!r}, not 'weight_clipping'"),
    "ac_weight": (lambda c: c.d_conditioning == "ac", lambda c: f"trial.d_conditioning = {c.d_conditioning!r}, not 'ac'"),
    "ema_start": (lambda c: c.ema_decay > 0, lambda c: f"trial.ema_decay = {c.ema_decay!r} keeps no EMA of G"),
    "beta1": (lambda c: c.optimizer == "adam", lambda c: f"trial.optimizer = {c.optimizer!r} has no beta1"),
    "beta2": (lambda c: c.optimizer == "adam", lambda c: f"trial.optimizer = {c.optimizer!r} has no beta2"),
    "train_subset_seed": (lambda c: c.train_fraction < 1.0,
                          lambda c: f"trial.train_fraction = {c.train_fraction!r} trains on the whole split"),
}


def unread_bindings(cfg: TrialConfig) -> Dict[str, str]:
    """Gin keys bound now that no piece chosen by `cfg` reads: key -> why, e.g. `lr_linear.start` while
    `trial.lr_schedule = 'constant'`. Each registered piece names the configurables it reads
    (`Registry.register(name, gin_configurables)`); a key of a piece that is not chosen, and that no chosen
    piece reads too, is unread. gin itself refuses unknown keys but not unread ones, so without this a slip
    such as `cr.weight = 10` with 'cr' missing from `trial.regularizers` would train without the term, silently.
    Trial fields that only some choices of other fields read (`DEPENDENT_FIELDS`: `trial.clip_value` without
    weight clipping, `trial.beta1` with RMSProp, ...) are reported the same way when bound.
    Call it while gin holds the trial's bindings (after `parse_config`)."""
    registries = _registries()
    unread: Dict[str, str] = {}
    bound_fields = gin.get_bindings("trial")
    for field, (reads, why) in DEPENDENT_FIELDS.items():
        if field in bound_fields and not reads(cfg):
            unread[f"trial.{field}"] = why(cfg)
    for field in REGISTRY_FIELDS:
        registry, value = registries[field], getattr(cfg, field)
        chosen = list(value) if field in LIST_FIELDS else [value]
        read = {c for name in chosen for c in registry.gin_configurables(name)}
        for name in registry.names():
            for configurable in registry.gin_configurables(name):
                if name in chosen or configurable in read:
                    continue
                why = (f"trial.{field} = {list(value)!r} does not include {name!r}" if field in LIST_FIELDS
                       else f"trial.{field} = {value!r}, not {name!r}")
                for key in sorted(gin.get_bindings(configurable)):
                    unread.setdefault(f"{configurable}.{key}", why)
    return unread


def uses_labels(cfg: TrialConfig) -> bool:
    """Whether the trial feeds class labels to G or D (so its data must have them)."""
    return cfg.g_conditioning in LABELLED_G or cfg.d_conditioning in LABELLED_D


def conditioning_problems(cfg: TrialConfig) -> List[str]:
    """What cannot work in the conditioning keys (known before the data is read): PacGAN packing with labels
    or rotations (a packed input has m labels and m orientations), SS-GAN's rotated quarter of the batch,
    intra-class FID without a class-conditional G."""
    out = []
    if cfg.pack > 1 and (uses_labels(cfg) or cfg.self_supervision != "none"):
        out.append(f"trial.pack = {cfg.pack} cannot be combined with class conditioning or self-supervision "
                   f"(trial.g_conditioning = {cfg.g_conditioning!r}, trial.d_conditioning = {cfg.d_conditioning!r}, "
                   f"trial.self_supervision = {cfg.self_supervision!r}); use trial.pack = 1")
    if cfg.self_supervision == "rotation" and cfg.batch_size < 4:
        out.append(f"trial.self_supervision = 'rotation' rotates a quarter of each batch, so trial.batch_size must "
                   f"be >= 4, got {cfg.batch_size}")
    if "intra_fid" in cfg.metrics and cfg.g_conditioning not in LABELLED_G:
        out.append(f"trial.metrics includes 'intra_fid', which needs a class-conditional generator; "
                   f"trial.g_conditioning = {cfg.g_conditioning!r} (expected one of {', '.join(LABELLED_G)})")
    return out


def check_config(cfg: TrialConfig) -> None:
    """Raise one ValueError naming every field that cannot work (see `config_problems`), before any compute."""
    problems = config_problems(cfg)
    if problems:
        raise ValueError("; ".join(problems))


def one_line(text: str) -> str:
    """A possibly multi-line message (gin's add the file, line and source text) as one line."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return "; ".join(line[:-1] if line.endswith(".") and i < len(lines) - 1 else line for i, line in enumerate(lines))


class _DropGinRootLogs(logging.Filter):
    """gin logs some failures (an include not found) on the root logger before raising; the raised error,
    reworded by parse_config, is the one message the user should see."""

    def filter(self, record):
        return f"{os.sep}gin{os.sep}" not in record.pathname


def _gin_problem(e: Exception) -> str:
    message = one_line(e)
    unknown = re.search(r"Configurable 'trial' doesn't have a parameter named '(\w+)'", message)
    if unknown:
        from gan_bench.registry import did_you_mean  # pylint: disable=import-outside-toplevel
        message += did_you_mean(unknown.group(1), [f.name for f in dataclasses.fields(TrialConfig)])
    return message


def parse_config(gin_files: Sequence[str] = (), gin_bindings: Sequence[str] = ()) -> TrialConfig:
    """Clear gin, parse `gin_files` then `gin_bindings`, and return the checked `TrialConfig`.

    Errors (missing file, gin syntax error, unknown configurable or parameter, bad value) are raised as
    one-line ValueErrors naming the file or binding that caused them.
    """
    # Importing the registries makes every configurable known to gin before parsing.
    from gan_bench import registered  # noqa: F401  pylint: disable=import-outside-toplevel

    gin.clear_config()
    for path in gin_files:
        if os.path.isdir(path):
            raise ValueError(f"gin file {path} is a folder; expected a .gin file")
        if not os.path.isfile(path):
            raise ValueError(f"gin file not found: {path}")
    quiet = _DropGinRootLogs()
    logging.getLogger().addFilter(quiet)
    try:
        for path in gin_files:
            try:
                gin.parse_config_file(path)
            except Exception as e:  # gin raises several types; name the file.
                raise ValueError(f"cannot parse gin file {path}: {_gin_problem(e)}") from e
        for binding in gin_bindings:
            try:
                gin.parse_config(binding)
            except Exception as e:  # gin's own message repeats the binding on later lines
                raise ValueError(f"bad gin binding {binding!r}: {_gin_problem(e).split('; In bindings string')[0]}") from e
    finally:
        logging.getLogger().removeFilter(quiet)
    try:
        cfg = TrialConfig()
    except Exception as e:
        raise ValueError(f"invalid trial configuration: {one_line(e)}") from e
    check_config(cfg)
    return cfg


def samples_per_step(cfg: TrialConfig) -> int:
    """Real (and fake) samples one D update consumes: pack * batch_size with `trial.pack_keeps_d_batch`
    (D sees batch_size packed inputs), else batch_size (D sees batch_size / pack)."""
    return cfg.batch_size * cfg.pack if cfg.pack_keeps_d_batch else cfg.batch_size


def member_fields() -> frozenset:
    """The fields a population's members may differ in: the traced hyperparameters and the seed.

    Traced hyperparameters are values in the compiled step's state (gan_bench.gan.state.TRACED_HPARAMS, read
    here lazily: that module imports this one and JAX); every other field changes the compiled program.
    """
    from gan_bench.gan.state import TRACED_HPARAMS  # pylint: disable=import-outside-toplevel
    return frozenset(TRACED_HPARAMS) | {"seed"}


def population_key(cfg: TrialConfig, config_text: str):
    """Trials with equal keys can share one compiled step: they differ only in `member_fields()`.

    The key is the config with the member fields reset, plus the parsed gin text without `trial.` lines
    (bindings of network families, metrics, ... must be equal too).
    """
    shared = dataclasses.replace(cfg, **{f: getattr(TrialConfig, f) for f in member_fields()})
    others = "\n".join(line for line in config_text.splitlines() if not line.startswith("trial."))
    return shared, others
