"""Which metrics are reported together, how each is written, and what its edge values mean.

A metric alone can mislead: a generator that sprays a diffuse cloud over the plane "covers" every mode of a 2-D
mixture with a handful of stray samples. Papers therefore report a metric with the metrics that qualify it:
modes covered with the high-quality fraction and the reverse KL (VEEGAN, Srivastava et al. 2017, Table 1;
PacGAN, Lin et al. 2018, Table 1), Stacked MNIST modes with the KL to uniform, precision and recall with F1
(Lucic et al. 2018, Sec. 6), FID with IS and KID. A `MetricGroup` is one such table: its metrics in display
order, the one it ranks by, and the meaning of a 0 or an ∞ for each, written from the metric's definition.
"""
import dataclasses
import functools
import inspect
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

# Keys the train step logs into every metrics.jsonl row (gan/train_step.py); they describe training, not samples.
# What the train step logs beside the evaluation metrics (losses, regularizer terms, ADA's p and r_t, top-k's k):
# training diagnostics, not scores to tabulate.
TRAINING_LOG_KEYS = ("d_loss", "g_loss", "penalty", "d_real", "d_fake", "cr", "bcr_real", "bcr_fake", "zcr_dis",
                     "zcr_gen", "lecam", "topk_k", "ada_p", "ada_rt",
                     "began_k", "began_m", "ebgan_hinge", "ebgan_pt", "ortho",
                     "ac_real", "ac_fake", "rotation_real", "rotation_fake", "g_ac_fake", "g_rotation_fake")
# Per-class details of a score (intra_fid_class_<c>): kept in metrics.jsonl, summarized by the score's mean.
PER_CLASS_PREFIXES = ("intra_fid_class_",)


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric column: its key in metrics.jsonl, header, which way is better, and how values are written."""
    key: str
    label: str
    better: str = "max"  # 'max' or 'min'
    percent: bool = False  # a fraction in [0, 1], written as a percentage
    decimals: Optional[int] = None  # fixed decimals; None: 3 significant digits
    zero_means: str = ""  # why a value of exactly 0 can occur (from the definition)
    inf_means: str = ""  # why a value of +inf can occur


@dataclasses.dataclass(frozen=True)
class Caveat:
    """A warning on the rows whose mean of `metric` is below `threshold()` (a metric where higher is better).

    note(): the row's note column. clause(highest): the one clause index.md writes for all flagged rows, given
    the highest flagged mean as the table writes it; the text starts with what is still wrong.
    """
    metric: str
    threshold: Callable[[], float]
    note: Callable[[], str]
    clause: Callable[[str], str]

    def applies(self, means: Dict[str, float]) -> bool:
        value = means.get(self.metric, math.nan)
        return value == value and value < self.threshold()


@dataclasses.dataclass(frozen=True)
class MetricGroup:
    """The metrics of one table. `source`: the trial.metrics entry that computes them ('' when unknown)."""
    name: str
    title: str
    source: str
    metrics: Tuple[Metric, ...]
    primary: str
    hidden: Tuple[str, ...] = ()  # keys of the same evaluation not tabled (per-trial spreads such as is_std)
    capacity: Optional[Callable[[str], Optional[int]]] = None  # dataset → number of modes, for "x of K"
    caveat: Optional[Caveat] = None  # a warning on rows whose numbers mislead read alone
    scatter: Optional[Tuple[str, str]] = None  # (x, y) metrics of the per-trial trade-off figure

    def metric(self, key: str) -> Metric:
        return next(m for m in self.metrics if m.key == key)

    @property
    def keys(self) -> Tuple[str, ...]:
        return tuple(m.key for m in self.metrics)


@functools.lru_cache(maxsize=None)
def mixture_modes(dataset: str) -> Optional[int]:
    """Number of modes of a 2-D mixture dataset (ring8: 8, grid25: 25), None when it is not one."""
    from gan_bench import data  # pylint: disable=import-outside-toplevel
    try:
        return len(data.load(dataset, "test", num_examples=1).modes)
    except (ValueError, TypeError, AttributeError, OSError):
        return None


@functools.lru_cache(maxsize=None)
def real_high_quality_fraction() -> Tuple[float, float]:
    """(num_std, share of real samples within num_std std of their mode) for the 2-D mixtures.

    A real sample is N(mode, σ² I₂), so its distance to the mode over σ follows a χ with 2 degrees of freedom:
    P(R ≤ k) = 1 - exp(-k²/2); k = 3 (the default of `mixture_mode_stats`) gives 98.9 %. Neighbouring modes are
    tens of σ apart in ring8 and grid25, so nearest-mode assignment does not lower this.
    """
    from gan_bench.metrics.modes import mixture_mode_stats  # pylint: disable=import-outside-toplevel
    k = float(inspect.signature(mixture_mode_stats).parameters["num_std"].default)
    return k, 1.0 - math.exp(-k * k / 2.0)


def _real_percent() -> str:
    return f"{100 * real_high_quality_fraction()[1]:.1f}"


# A generator with fewer than half as many high-quality samples as real data is diffuse: its mode count is
# carried by stray samples (see the modes_2d note in notes.py).
DIFFUSE = Caveat(
    metric="high_quality_fraction",
    threshold=lambda: real_high_quality_fraction()[1] / 2,
    note=lambda: f"samples mostly off the modes (high-quality < half of real data's {_real_percent()} %)",
    clause=lambda highest: (f"still mostly off the modes (high-quality ≤ {highest} % vs {_real_percent()} % "
                            f"for real data)"))


MODES_2D = MetricGroup(
    name="modes_2d", title="2-D mixtures: modes covered, high-quality samples, reverse KL (PacGAN Table 1)",
    source="modes_2d", primary="modes_covered", capacity=mixture_modes, caveat=DIFFUSE,
    scatter=("high_quality_fraction", "modes_covered"),
    metrics=(
        Metric("modes_covered", "modes covered", "max", decimals=1,
               zero_means="no generated sample lies within {k:g} std of any mode"),
        Metric("high_quality_fraction", "high-quality (%)", "max", percent=True,
               zero_means="no generated sample lies within {k:g} std of its nearest mode"),
        Metric("reverse_kl", "reverse KL", "min",
               zero_means="the high-quality samples spread over the modes exactly as the data does",
               inf_means="no generated sample is high-quality (within {k:g} std of a mode), so the histogram Q "
                         "of high-quality samples over the modes is empty and KL(Q || P) is undefined (stored as "
                         "inf)"),
    ))
STACKED_MNIST = MetricGroup(
    name="stacked_mnist", title="Stacked MNIST: modes covered of 1000 and KL to uniform (VEEGAN / PacGAN)",
    source="stacked_mnist_modes", primary="stacked_mnist_modes", capacity=lambda dataset: 1000,
    scatter=("stacked_mnist_kl", "stacked_mnist_modes"),
    metrics=(Metric("stacked_mnist_modes", "modes covered", "max", decimals=1),
             Metric("stacked_mnist_kl", "KL to uniform", "min")))
FID = MetricGroup(
    name="fid", title="Images: FID with Inception Score and KID", source="fid", primary="fid",
    hidden=("is_std", "kid_std", "fid_std"),
    metrics=(Metric("fid", "FID", "min"), Metric("is_mean", "IS", "max"), Metric("kid_mean", "KID", "min")))
INTRA_FID = MetricGroup(
    name="intra_fid", title="Class-conditional images: intra-FID (FID per class, averaged; Miyato & Koyama 2018)",
    source="intra_fid", primary="intra_fid", metrics=(Metric("intra_fid", "intra-FID", "min"),))
_POLYGON_ZERO = ("no generated image lies within δ (polygon_prf.delta, RMS pixel distance) of a rendered "
                 "triangle")
POLYGONS = MetricGroup(
    name="polygon_prf", title="Convex polygons: precision, recall, F1 (Lucic et al. 2018, Sec. 6)",
    source="polygon_prf", primary="polygon_f1", scatter=("polygon_recall", "polygon_precision"),
    metrics=(Metric("polygon_precision", "precision", "max", zero_means=_POLYGON_ZERO),
             Metric("polygon_recall", "recall", "max",
                    zero_means="no test triangle is reached within δ by latent inversion of the generator"),
             Metric("polygon_f1", "F1", "max", zero_means="precision or recall is 0")))
PRECISION_RECALL = MetricGroup(
    name="precision_recall", title="Precision, recall, F1", source="", primary="f1",
    scatter=("recall", "precision"),
    metrics=(Metric("precision", "precision", "max"), Metric("recall", "recall", "max"),
             Metric("f1", "F1", "max", zero_means="precision or recall is 0")))
PRD = MetricGroup(
    name="prd", title="PRD: F8 (recall) and F1/8 (precision) (Sajjadi et al. 2018)", source="prd",
    primary="prd_f8", scatter=("prd_f8", "prd_f1_8"),
    metrics=(Metric("prd_f8", "F8 (recall)", "max"), Metric("prd_f1_8", "F1/8 (precision)")))
PRDC = MetricGroup(
    name="prdc", title="Improved precision / recall, density / coverage (Naeem et al. 2020)", source="prdc",
    primary="prdc_coverage", scatter=("prdc_recall", "prdc_precision"),
    metrics=(Metric("prdc_precision", "precision"), Metric("prdc_recall", "recall"),
             Metric("prdc_density", "density"), Metric("prdc_coverage", "coverage")))
MS_SSIM = MetricGroup(
    name="ms_ssim", title="MS-SSIM between generated pairs (lower: more diverse samples)", source="ms_ssim",
    primary="ms_ssim", metrics=(Metric("ms_ssim", "MS-SSIM", "min"),))

GROUPS = (MODES_2D, STACKED_MNIST, FID, INTRA_FID, POLYGONS, PRECISION_RECALL, PRD, PRDC, MS_SSIM)


def group_of(key: str) -> Optional[MetricGroup]:
    return next((g for g in GROUPS if key in g.keys or key in g.hidden), None)


def direction(key: str) -> str:
    """'min' when lower values of metric `key` are better, else 'max' (unknown metrics: higher is better)."""
    group = group_of(key)
    if group is None or key in group.hidden:
        return "min" if key in ("is_std", "kid_std", "fid_std") else "max"
    return group.metric(key).better


def single_metric_group(key: str) -> MetricGroup:
    """A table of its own for a metric that belongs to no known group."""
    return MetricGroup(name=f"metric_{key}", title=key, source="", primary=key, metrics=(Metric(key, key),))


def groups_for(found: Sequence[str], rank_by: Sequence[str] = ()) -> List[MetricGroup]:
    """The groups to table for the metric keys `found` in the results, ranked by `rank_by` where it names one.

    Training-log keys are left out unless `rank_by` asks for them. Raises ValueError for a `rank_by` metric that
    is not among `found`.
    """
    missing = [m for m in rank_by if m not in found]
    if missing:
        raise ValueError(f"--metric {','.join(missing)}: not in any trial's metrics.jsonl; metrics found: "
                         f"{sorted(k for k in found if k not in TRAINING_LOG_KEYS)}")
    out = []
    for group in GROUPS:
        if any(k in found for k in group.keys):
            chosen = [m for m in rank_by if m in group.keys]
            out.append(dataclasses.replace(group, primary=chosen[0]) if chosen else group)
    for key in sorted(found):
        if key.startswith(PER_CLASS_PREFIXES) and key not in rank_by:
            continue
        if group_of(key) is None and (key not in TRAINING_LOG_KEYS or key in rank_by):
            out.append(single_metric_group(key))
    return out
