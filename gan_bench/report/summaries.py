"""One metric over the seeds of one configuration: counts, mean ± std, and the text a table shows for it.

Seeds are restarts of one configuration, so a table reports mean ± sample std (ddof 1) over them, as Lucic et
al. 2018 and PacGAN (Lin et al. 2018, Table 1) do. A value of +inf is a real outcome (the reverse KL of a
generator with no high-quality sample), not a missing one: it is counted, kept out of the finite mean, and shown
as ∞ with the number of seeds it occurred in. NaN means "not computed" and is not counted at all.
"""
import dataclasses
import math
from typing import Optional, Sequence

import numpy as np

from gan_bench.report.metric_groups import Metric

DASH = "—"
INF = "∞"


@dataclasses.dataclass(frozen=True)
class Summary:
    n: int  # seeds with a value (finite or infinite)
    n_inf: int  # of which +inf or -inf
    mean: float  # over the finite values; NaN when none
    std: float  # sample std (ddof 1) over the finite values; NaN with fewer than two

    @property
    def value(self) -> float:
        """The mean as a ranking value: +inf (or -inf) when any seed is infinite, NaN when nothing was computed."""
        if self.n == 0:
            return math.nan
        return math.inf if self.n_inf else self.mean

    @property
    def finite_values(self) -> int:
        return self.n - self.n_inf


def summarize(values: Sequence[float]) -> Summary:
    """Summary of the per-seed values of one metric (NaN entries dropped)."""
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    v = v[~np.isnan(v)]
    finite = v[np.isfinite(v)]
    mean = float(finite.mean()) if finite.size else math.nan
    std = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return Summary(n=int(v.size), n_inf=int(v.size - finite.size), mean=mean, std=std)


MAX_DECIMALS = 6


def column_decimals(sums: Sequence[Summary], metric: Optional[Metric] = None) -> int:
    """Decimals for every value of one table column, so that all its 'mean ± std' line up.

    The metric's fixed `decimals` when it has them. Otherwise as many decimals as the smallest nonzero std of the
    column (as shown: percentages for fractions) needs for one significant digit: every std of the column shows
    at least one, and no mean claims more precision than the tightest seed spread beside it. Without any spread,
    the smallest nonzero mean keeps three significant digits.
    """
    if metric is not None and metric.decimals is not None:
        return metric.decimals
    scale = 100.0 if metric is not None and metric.percent else 1.0
    stds = [abs(s.std) * scale for s in sums if s.finite_values > 1 and math.isfinite(s.std) and s.std != 0]
    means = [abs(s.mean) * scale for s in sums if s.finite_values and math.isfinite(s.mean) and s.mean != 0]
    if stds:
        decimals = -math.floor(math.log10(min(stds)))
    elif means:
        decimals = 2 - math.floor(math.log10(min(means)))
    else:
        decimals = 1
    return min(max(decimals, 0), MAX_DECIMALS)


def number(x: float, metric: Optional[Metric] = None, decimals: Optional[int] = None) -> str:
    """One value as the tables write it: percentages for fractions; `decimals` fixed, else the metric's own,
    else 3 significant digits."""
    if x != x:
        return DASH
    if math.isinf(x):
        return INF if x > 0 else f"-{INF}"
    if metric is not None and metric.percent:
        x = 100.0 * x
    if decimals is None and metric is not None:
        decimals = metric.decimals
    text = f"{x:.{decimals}f}" if decimals is not None else f"{x:.3g}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0"


def mean_std(summary: Summary, metric: Optional[Metric] = None, decimals: Optional[int] = None) -> str:
    """'mean ± std' over the finite seeds; the mean alone for one seed."""
    if summary.finite_values == 0:
        return DASH
    if summary.finite_values == 1:
        return f"{number(summary.mean, metric, decimals)} (1 seed)"
    return f"{number(summary.mean, metric, decimals)} ± {number(summary.std, metric, decimals)}"


def cell(summary: Summary, metric: Optional[Metric] = None, capacity: Optional[int] = None,
         decimals: Optional[int] = None) -> str:
    """The table cell of a summary: '6.3 ± 0.6 of 8', '∞', '∞ in 1 of 3 seeds (others 0.35 ± 0.10)', '—'.

    decimals: those of the whole column (`column_decimals`); None: the metric's own or 3 significant digits.
    """
    if summary.n == 0:
        return DASH
    if summary.n_inf == summary.n:
        return INF
    text = mean_std(summary, metric, decimals)
    if capacity is not None:
        text = f"{text} of {capacity}"
    if summary.n_inf:
        text = f"{INF} in {summary.n_inf} of {summary.n} seeds (others {text})"
    return text


def pooled_std(a: Summary, b: Summary) -> float:
    """Pooled sample std of two groups of seeds, sqrt(((n1-1) s1² + (n2-1) s2²) / (n1 + n2 - 2)); NaN if undefined."""
    dof_a, dof_b = a.finite_values - 1, b.finite_values - 1
    parts = [(d, s) for d, s in ((dof_a, a.std), (dof_b, b.std)) if d > 0]
    dof = sum(d for d, _ in parts)
    if dof <= 0:
        return math.nan
    return math.sqrt(sum(d * s * s for d, s in parts) / dof)
