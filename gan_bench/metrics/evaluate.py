"""What a training trial calls every N steps: named metrics on an `EvalContext`.

`METRICS` maps a name to `fn(ctx) -> dict` (flat keys: float values, plus one protocol record per group of
values, `<group>_protocol`, see `gan_bench.metrics.protocol`). Inception features (pool3 and logits of
`gan_bench.metrics.inception.extract`) are computed lazily, once per context; those of real images come from
the reference-statistics cache (`gan_bench.metrics.reference_stats`), keyed by the images' content and the
extraction protocol, so all evaluations and trials that share real images extract them once. For 2-D point
data the feature-space metrics (fid, kid, prd, prdc) use the raw coordinates as features.

Options are gin keys: `inception_features.*` (resize, precision, batch size: `reference_stats.feature_settings`),
`fid.*` (`fid_options`: bootstrap interval, FID∞, train/held-out reference splits and the memorization
check) and `kid.*` (`kid_options`), defined in `gan_bench.metrics.options`. `check_settings(names)` validates
them before anything is computed.
"""
import dataclasses
import logging
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from gan_bench.metrics.fid_metric import check_sample_size, feature_statistics, frechet_distance, published_mismatch
from gan_bench.metrics.inception_score_metric import inception_score
from gan_bench.metrics.intra_fid_metric import intra_fid
from gan_bench.metrics.kid_metric import kid
from gan_bench.metrics.memorization import memorization_fraction
from gan_bench.metrics.modes import mixture_mode_stats, stacked_mnist_modes
from gan_bench.metrics.ms_ssim_metric import ms_ssim_diversity, to_255
from gan_bench.metrics.prd_metric import prd, prd_f_beta
from gan_bench.metrics.prdc_metric import prdc
from gan_bench.metrics.polygons import polygon_prf  # registers the gin configurable `polygon_prf`
from gan_bench.metrics import protocol, reference_stats, sample_size
from gan_bench.metrics.options import FIDOptions, fid_options, kid_options
from gan_bench.metrics.reference_stats import FeatureSettings, feature_settings
from gan_bench.registry import Registry

# Each metric registers the gin configurables it reads: `inception_features` marks those on Inception features.
METRICS: Registry = Registry("metric")


def check_settings(names: Sequence[str]) -> None:
    """Every metric name and the gin-bound options the named metrics read, checked before any compute."""
    if isinstance(names, str):
        raise ValueError(f"metric names must be a list of strings, got the string {names!r}")
    for name in names:
        METRICS.get(name)  # ValueError naming the unknown metric and the known ones
    if any("inception_features" in METRICS.gin_configurables(name) for name in names):
        feature_settings()
    if "fid" in names:
        fid_options()
    if "kid" in names:
        kid_options()


# ------------------------------------------------------------------ the evaluation context
@dataclasses.dataclass
class EvalContext:
    """Inputs of one evaluation. real [N, ...] and fake [M, ...]: images NHWC in [-1, 1] or 2-D points [N, 2]."""

    real: np.ndarray
    fake: np.ndarray
    dataset: Any = None  # gan_bench Dataset: .name, optional .modes / .mode_std for 2-D mixtures
    generate: Optional[Callable] = None  # (variables, z [B, z_dim]) -> samples [B, ...] (jax), for inversion
    generator_variables: Any = ()  # the `variables` pytree passed to `generate` (weights, batch-norm state)
    z_dim: Optional[int] = None
    seed: int = 0
    cache_dir: Optional[str] = None  # cache root override (default: gan_bench.cache_dirs.cache_root())
    split: Optional[str] = None  # the split `real` was read from (protocol records, other reference splits)
    data_dir: Optional[str] = None  # where the dataset's files are (MNIST for the Stacked MNIST classifier)
    generator_weights: Optional[str] = None  # "final" | "ema": which weights of G made `fake`
    truncation: Optional[str] = None  # the truncation threshold of `fake`'s latents as text; None: the prior
    real_name: Optional[str] = None  # the real images' name in protocol records (default: the dataset's)
    settings: Optional[FeatureSettings] = None  # Inception extraction; default: the gin-bound inception_features
    real_labels: Optional[np.ndarray] = None  # class labels of `real` (conditional trials)
    fake_labels: Optional[np.ndarray] = None  # the classes G was asked for, per row of `fake`
    _features: Dict[str, Dict[str, np.ndarray]] = dataclasses.field(default_factory=dict, repr=False)
    _references: Dict[tuple, Dict[str, Any]] = dataclasses.field(default_factory=dict, repr=False)
    _splits: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    _identity: Optional[dict] = dataclasses.field(default=None, repr=False)

    @property
    def is_images(self) -> bool:
        return np.ndim(self.real) == 4 and np.ndim(self.fake) == 4

    @property
    def real_split(self) -> Optional[str]:
        return self.split or getattr(self.dataset, "split", None)

    def feature_settings(self) -> FeatureSettings:
        if self.settings is None:
            self.settings = feature_settings()
        return self.settings

    def network_identity(self) -> dict:
        """{"network", "weights_sha256"} of the Inception network (resolves the weights, computes nothing)."""
        if self._identity is None:
            from gan_bench.metrics import inception  # pylint: disable=import-outside-toplevel
            self._identity = inception.network_identity()
        return self._identity

    def inception(self, which: str) -> Dict[str, np.ndarray]:
        """{"pool3": [n, 2048], "logits": [n, 1008]} of `which` in ("real", "fake"), computed once; real ones
        also carry "mu", "sigma" and come from the reference-statistics cache."""
        if which not in self._features:
            self._features[which] = (self._reference(self.real_split, self.real)["inception"] if which == "real"
                                     else _extract(self.fake, self.feature_settings()))
        return self._features[which]

    def features(self, which: str) -> np.ndarray:
        """Feature vectors for the feature-space metrics: Inception pool3 for images, raw points for 2-D data."""
        if self.is_images:
            return self.inception(which)["pool3"]
        data = np.asarray(self.real if which == "real" else self.fake, np.float64)
        if data.ndim != 2:
            raise ValueError(f"{which} samples must be images [N, H, W, C] or points [N, d], got {data.shape}")
        return data

    def real_statistics(self) -> tuple:
        """(mu, sigma) of the real features (cached with them for images)."""
        if self.is_images:
            stats = self.inception("real")
            return stats["mu"], stats["sigma"]
        return feature_statistics(self.features("real"))

    # ---- real images of other splits (fid.reference_splits)
    def _reference(self, split: Optional[str], images: np.ndarray) -> Dict[str, Any]:
        """Features and identity of one set of real images: {"split", "count", "sha256" (content, 16 hex),
        "features", "inception" (images only: `reference_stats.real_features`)}, once per (split, count)."""
        key = (split, len(images))
        if key not in self._references:
            entry: Dict[str, Any] = {"count": int(len(images)), "split": split}
            if np.ndim(images) == 4:
                settings = self.feature_settings()
                features = reference_stats.real_features(
                    np.ascontiguousarray(images, np.float32), settings, self.network_identity(),
                    lambda x: _extract(x, settings), label=f"{self.real_dataset}_{split}_{len(images)}",
                    cache_root=self.cache_dir)
                entry.update(inception=features, features=features["pool3"],
                             sha256=features["content_sha256"][:16])
            else:
                points = np.asarray(images, np.float64)
                entry.update(features=points, sha256=reference_stats.content_sha256(points)[:16])
            self._references[key] = entry
        return self._references[key]

    @property
    def real_dataset(self) -> str:
        return self.real_name or getattr(self.dataset, "name", None) or "array"

    def split_reference(self, split: str, count: int) -> Dict[str, Any]:
        """The first `count` real samples of `split` (read through `gan_bench.data.load` unless it is the
        context's own split) and their features; see `_reference`."""
        if split == self.real_split:
            return self._reference(split, self.real[:count])
        return self._reference(split, self._load_split(split).get(np.arange(count)))

    def split_size(self, split: str) -> int:
        return len(self.real) if split == self.real_split else self._load_split(split).num_examples

    def _load_split(self, split: str):
        if split not in self._splits:
            name = getattr(self.dataset, "name", None)
            if name is None:
                raise ValueError("fid.reference_splits needs the dataset the real images come from (a trial or "
                                 "`gan-bench eval`); here there are only the real images")
            from gan_bench import data  # pylint: disable=import-outside-toplevel
            self._splits[split] = data.load(name, split=split, data_dir=self.data_dir)
        return self._splits[split]

    # ---- protocol records
    def protocol(self, features: str, reference: Optional[Dict[str, Any]] = None, *, real_split=None,
                 use_real: bool = True, use_fake: bool = True) -> Dict[str, Any]:
        """The protocol record of values computed from `features` ("inception_pool3", "inception_logits";
        raw points always give "raw") of `reference` (default: this context's real samples) and the fake ones."""
        fields: Dict[str, Any] = {"features": features if self.is_images else "raw"}
        if self.is_images:
            settings = self.feature_settings()
            fields.update(self.network_identity(), resize=settings.resize, precision=settings.precision)
        if use_real:
            reference = reference or self._reference(self.real_split, self.real)
            fields.update(real_dataset=self.real_dataset, real_split=real_split or reference["split"],
                          real_count=reference["count"], real_sha256=reference["sha256"])
        if use_fake:
            fields.update(fake_count=int(len(self.fake)), generator_weights=self.generator_weights,
                          truncation=self.truncation)
        return protocol.make_record(**fields)


def _extract(images: np.ndarray, settings: FeatureSettings) -> Dict[str, np.ndarray]:
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"Inception metrics need images [N, H, W, 1 or 3] in [-1, 1], got {images.shape}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    from gan_bench.metrics import inception  # pylint: disable=import-outside-toplevel
    out = inception.extract(images, resize=settings.resize, precision=settings.precision,
                            batch_size=settings.batch_size)
    return {k: np.asarray(v) for k, v in out.items()}


# ------------------------------------------------------------------ the metrics
@METRICS.register("fid", gin_configurables=("fid", "inception_features"))
def _fid(ctx: EvalContext) -> Dict[str, Any]:
    opts = fid_options()
    real, fake = ctx.features("real"), ctx.features("fake")
    check_sample_size(len(real), len(fake), real.shape[1])
    mismatch = published_mismatch(len(real), len(fake), opts.published_num_samples, opts.published_num_real)
    if mismatch:
        logging.getLogger("gan_bench").warning(mismatch)
    mu_real, sigma_real = ctx.real_statistics()
    fake_stats = feature_statistics(fake)
    row: Dict[str, Any] = {"fid": frechet_distance(mu_real, sigma_real, *fake_stats)}
    if opts.bootstrap:
        row["fid_ci_low"], row["fid_ci_high"], row["fid_bootstrap_bias"] = sample_size.fid_bootstrap(
            real, fake, opts.bootstrap, opts.confidence, seed=ctx.seed)
    if opts.infinity_points:
        extrapolated = sample_size.fid_infinity((mu_real, sigma_real), fake, opts.infinity_points,
                                                opts.infinity_min_fraction, seed=ctx.seed)
        row["fid_infinity"], row["fid_infinity_slope"] = extrapolated["fid_infinity"], extrapolated["slope"]
    row["fid_protocol"] = ctx.protocol("inception_pool3")
    if opts.reference_splits:
        row.update(_reference_split_fids(ctx, opts, fake, fake_stats))
    return row


def _reference_split_fids(ctx: EvalContext, opts: FIDOptions, fake: np.ndarray, fake_stats) -> Dict[str, Any]:
    """fid_<split> for each reference split at one common real count, and the train/held-out gap and
    memorization check when the splits are 'train' and one other."""
    splits = opts.reference_splits
    count = min([len(ctx.real)] + [ctx.split_size(s) for s in splits])
    refs = {s: ctx.split_reference(s, count) for s in splits}
    row: Dict[str, Any] = {}
    for split, ref in refs.items():
        stats = ((ref["inception"]["mu"], ref["inception"]["sigma"]) if "inception" in ref
                 else feature_statistics(ref["features"]))
        row[f"fid_{split}"] = frechet_distance(*stats, *fake_stats)
        row[protocol.protocol_key(f"fid_{split}")] = ctx.protocol("inception_pool3", ref)
    held_out = [s for s in splits if s != "train"]
    if "train" in splits and len(held_out) == 1:
        train, other = refs["train"], refs[held_out[0]]
        joined = f"train+{held_out[0]}"
        row["fid_gap"] = row[f"fid_{held_out[0]}"] - row["fid_train"]
        row[protocol.protocol_key("fid_gap")] = ctx.protocol("inception_pool3", train, real_split=joined)
        fraction, threshold = memorization_fraction(train["features"], other["features"], fake,
                                                    opts.memorization_percentile)
        row["memorization_fraction"], row["memorization_threshold"] = fraction, threshold
        row[protocol.protocol_key("memorization")] = ctx.protocol("inception_pool3", train, real_split=joined)
    return row


@METRICS.register("intra_fid", gin_configurables=("inception_features",))
def _intra_fid(ctx: EvalContext) -> Dict[str, Any]:
    """`intra_fid` (mean over classes) and `intra_fid_class_<c>` per class, on Inception pool3 features."""
    if ctx.real_labels is None or ctx.fake_labels is None:
        raise ValueError("metric 'intra_fid' needs the class labels of the real and the generated images "
                         "(a class-conditional trial: trial.g_conditioning)")
    mean, per_class = intra_fid(ctx.features("real"), ctx.real_labels, ctx.features("fake"), ctx.fake_labels)
    row: Dict[str, Any] = {"intra_fid": mean, **{f"intra_fid_class_{c}": v for c, v in per_class.items()}}
    row["intra_fid_protocol"] = ctx.protocol("inception_pool3")
    return row


@METRICS.register("inception_score", gin_configurables=("inception_features",))
def _inception_score(ctx: EvalContext) -> Dict[str, Any]:
    mean, std = inception_score(ctx.inception("fake")["logits"], splits=min(10, len(ctx.fake)))
    return {"is_mean": mean, "is_std": std, "is_protocol": ctx.protocol("inception_logits", use_real=False)}


@METRICS.register("kid", gin_configurables=("kid", "inception_features"))
def _kid(ctx: EvalContext) -> Dict[str, Any]:
    opts = kid_options()
    real, fake = ctx.features("real"), ctx.features("fake")
    mean, std = kid(real, fake, subsets=opts.subsets, subset_size=opts.subset_size, seed=ctx.seed)
    row: Dict[str, Any] = {"kid_mean": mean, "kid_std": std}
    if opts.bootstrap:
        row["kid_ci_low"], row["kid_ci_high"] = sample_size.kid_bootstrap(real, fake, opts.bootstrap,
                                                                          opts.confidence, seed=ctx.seed)
    row["kid_protocol"] = ctx.protocol("inception_pool3")
    return row


@METRICS.register("prd", gin_configurables=("inception_features",))
def _prd(ctx: EvalContext) -> Dict[str, Any]:
    real, fake = ctx.features("real"), ctx.features("fake")
    n = min(len(real), len(fake))  # PRD needs balanced sets
    precision, recall = prd(real[:n], fake[:n], num_clusters=min(20, n), seed=ctx.seed)
    f8, f1_8 = prd_f_beta(precision, recall, beta=8)
    return {"prd_f8": f8, "prd_f1_8": f1_8, "prd_protocol": ctx.protocol("inception_pool3")}


@METRICS.register("prdc", gin_configurables=("inception_features",))
def _prdc(ctx: EvalContext) -> Dict[str, Any]:
    values = prdc(ctx.features("real"), ctx.features("fake"), nearest_k=5)
    return {**{f"prdc_{k}": v for k, v in values.items()}, "prdc_protocol": ctx.protocol("inception_pool3")}


@METRICS.register("ms_ssim")
def _ms_ssim(ctx: EvalContext) -> Dict[str, float]:
    if np.ndim(ctx.fake) != 4:
        raise ValueError(f"ms_ssim needs images [N, H, W, C], got samples of shape {np.shape(ctx.fake)}")
    return {"ms_ssim": ms_ssim_diversity(to_255(ctx.fake), seed=ctx.seed)}


@METRICS.register("modes_2d")
def _modes_2d(ctx: EvalContext) -> Dict[str, float]:
    modes, std = getattr(ctx.dataset, "modes", None), getattr(ctx.dataset, "mode_std", None)
    if modes is None or std is None:
        raise ValueError(f"modes_2d needs a dataset with .modes and .mode_std (a 2-D mixture), got "
                         f"{getattr(ctx.dataset, 'name', ctx.dataset)!r}")
    return mixture_mode_stats(ctx.fake, modes, std)


@METRICS.register("stacked_mnist_modes")
def _stacked_mnist_modes(ctx: EvalContext) -> Dict[str, float]:
    from gan_bench.metrics import mnist_classifier  # pylint: disable=import-outside-toplevel
    if np.shape(ctx.fake)[1:] != (28, 28, 3):
        raise ValueError(f"stacked_mnist_modes needs images [N, 28, 28, 3], got {np.shape(ctx.fake)}")
    classifier = mnist_classifier.load_or_train(data_dir=ctx.data_dir or getattr(ctx.dataset, "data_dir", None),
                                                cache_dir=ctx.cache_dir)
    stats = stacked_mnist_modes(ctx.fake, classifier)
    return {"stacked_mnist_modes": stats["modes_covered"], "stacked_mnist_kl": stats["kl_to_uniform"]}


@METRICS.register("polygon_prf", gin_configurables=("polygon_prf",))
def _polygon_prf(ctx: EvalContext) -> Dict[str, float]:
    if ctx.generate is None or not ctx.z_dim:
        raise ValueError("polygon_prf needs ctx.generate and ctx.z_dim for latent inversion")
    return polygon_prf(ctx.fake, ctx.real, ctx.generate, ctx.z_dim, ctx.generator_variables, seed=ctx.seed)


def evaluate(names: Sequence[str], ctx: EvalContext) -> Dict[str, Any]:
    """Merged results of the named metrics: float values and protocol records (dicts). Every name and every
    option the metrics read is checked (`check_settings`) before any is computed."""
    check_settings(names)
    row: Dict[str, Any] = {}
    for name in names:
        row.update({k: v if isinstance(v, dict) else float(v) for k, v in METRICS.get(name)(ctx).items()})
    return row
