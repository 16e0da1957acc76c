"""What a training trial calls every N steps: named metrics on an `EvalContext`.

`METRICS` maps a name to `fn(ctx) -> dict[str, float]` (flat keys). Inception features (pool3 and logits of
`gan_bench.metrics.inception.extract`) are computed lazily, once per context; those of the real samples are also
cached on disk per (dataset, split, n, content hash) in `<cache_dir>/inception/`, so repeated evaluations of a
trial, and trials sharing an eval set, extract them once. For 2-D point data the feature-space metrics (fid, kid,
prd, prdc) use the raw coordinates as features.
"""
import dataclasses
import hashlib
import io
import os
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from gan_bench.atomic import atomic_write_bytes
# Functions, not modules: the package re-exports functions under the module names (fid, kid, prd, ...).
from gan_bench.metrics.fid import fid
from gan_bench.metrics.inception_score import inception_score
from gan_bench.metrics.kid import kid
from gan_bench.metrics.modes import mixture_mode_stats, stacked_mnist_modes
from gan_bench.metrics.ms_ssim import ms_ssim_diversity, to_255
from gan_bench.metrics.prd import prd, prd_f_beta
from gan_bench.metrics.prdc import prdc
from gan_bench.metrics.polygons import polygon_prf  # registers the gin configurable `polygon_prf`
from gan_bench.metrics.mnist_classifier import default_cache_dir
from gan_bench.registry import Registry

METRICS: Registry = Registry("metric")


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
    cache_dir: Optional[str] = None
    split: Optional[str] = None  # part of the real-feature cache key (with dataset name, n and a content hash)
    data_dir: Optional[str] = None  # where MNIST is, for training the Stacked MNIST classifier once
    _features: Dict[str, Dict[str, np.ndarray]] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def is_images(self) -> bool:
        return np.ndim(self.real) == 4 and np.ndim(self.fake) == 4

    def inception(self, which: str) -> Dict[str, np.ndarray]:
        """{"pool3": [n, 2048], "logits": [n, 1008]} of `which` in ("real", "fake"), computed once."""
        if which not in self._features:
            images = self.real if which == "real" else self.fake
            self._features[which] = (_cached_real_features(self) if which == "real"
                                     else _extract(images))
        return self._features[which]

    def features(self, which: str) -> np.ndarray:
        """Feature vectors for the feature-space metrics: Inception pool3 for images, raw points for 2-D data."""
        if self.is_images:
            return self.inception(which)["pool3"]
        data = np.asarray(self.real if which == "real" else self.fake, np.float64)
        if data.ndim != 2:
            raise ValueError(f"{which} samples must be images [N, H, W, C] or points [N, d], got {data.shape}")
        return data


def _extract(images: np.ndarray) -> Dict[str, np.ndarray]:
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"Inception metrics need images [N, H, W, 1 or 3] in [-1, 1], got {images.shape}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    from gan_bench.metrics import inception  # pylint: disable=import-outside-toplevel
    return {k: np.asarray(v) for k, v in inception.extract(images).items()}


def _cached_real_features(ctx: EvalContext) -> Dict[str, np.ndarray]:
    real = np.ascontiguousarray(ctx.real, dtype=np.float32)
    name = getattr(ctx.dataset, "name", None) or "array"
    split = ctx.split or getattr(ctx.dataset, "split", None) or "unknown"
    digest = hashlib.sha1(real.tobytes()).hexdigest()[:12]
    folder = os.path.join(default_cache_dir(ctx.cache_dir), "inception")
    path = os.path.join(folder, f"{name}_{split}_{len(real)}_{digest}.npz")
    if os.path.isfile(path):
        with np.load(path) as stored:
            return {k: stored[k] for k in stored.files}
    features = _extract(real)
    os.makedirs(folder, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **features)
    atomic_write_bytes(path, buffer.getvalue())
    return features


@METRICS.register("fid")
def _fid(ctx: EvalContext) -> Dict[str, float]:
    return {"fid": fid(ctx.features("real"), ctx.features("fake"))}


@METRICS.register("inception_score")
def _inception_score(ctx: EvalContext) -> Dict[str, float]:
    mean, std = inception_score(ctx.inception("fake")["logits"], splits=min(10, len(ctx.fake)))
    return {"is_mean": mean, "is_std": std}


@METRICS.register("kid")
def _kid(ctx: EvalContext) -> Dict[str, float]:
    mean, std = kid(ctx.features("real"), ctx.features("fake"), seed=ctx.seed)
    return {"kid_mean": mean, "kid_std": std}


@METRICS.register("prd")
def _prd(ctx: EvalContext) -> Dict[str, float]:
    real, fake = ctx.features("real"), ctx.features("fake")
    n = min(len(real), len(fake))  # PRD needs balanced sets
    precision, recall = prd(real[:n], fake[:n], num_clusters=min(20, n), seed=ctx.seed)
    f8, f1_8 = prd_f_beta(precision, recall, beta=8)
    return {"prd_f8": f8, "prd_f1_8": f1_8}


@METRICS.register("prdc")
def _prdc(ctx: EvalContext) -> Dict[str, float]:
    values = prdc(ctx.features("real"), ctx.features("fake"), nearest_k=5)
    return {f"prdc_{k}": v for k, v in values.items()}


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


@METRICS.register("polygon_prf")
def _polygon_prf(ctx: EvalContext) -> Dict[str, float]:
    if ctx.generate is None or not ctx.z_dim:
        raise ValueError("polygon_prf needs ctx.generate and ctx.z_dim for latent inversion")
    return polygon_prf(ctx.fake, ctx.real, ctx.generate, ctx.z_dim, ctx.generator_variables, seed=ctx.seed)


def evaluate(names: Sequence[str], ctx: EvalContext) -> Dict[str, float]:
    """Merged results of the named metrics; every name is checked before any is computed."""
    if isinstance(names, str):
        raise ValueError(f"metric names must be a list of strings, got the string {names!r}")
    fns = [METRICS.get(name) for name in names]  # ValueError naming the unknown metric and the known ones
    row: Dict[str, float] = {}
    for fn in fns:
        row.update({k: float(v) for k, v in fn(ctx).items()})
    return row
