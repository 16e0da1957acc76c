"""Study figures (PNG) from the trial frame of `load_results`: score distributions, budget curves, P/R scatter.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no display needed) and saved
atomically (temporary file in the same folder, then rename).
"""
import os
import tempfile
from typing import Optional

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gan_bench.report.load import direction
from gan_bench.report.tables import score_column, scored


def expected_best_of_k(values, better: str = "min", n_boot: int = 1000, level: float = 0.95,
                       seed: int = 0) -> pd.DataFrame:
    """Expected best score among k trials drawn at random, k = 1..n (Lucic et al. 2018, Sec. 5, Fig. 4).

    Bootstrap: each resample is a random permutation of the n scores; its first k entries are a uniform random
    k-subset drawn without replacement, so the running min (or max) of the permutation gives the best-of-k for
    every k at once. `mean` estimates E[best of k] (for 'min' the closed form is
    Σ_i v_(i) C(n-i, k-1) / C(n, k) over the ascending order statistics v_(1..n)); `lo`/`hi` are the
    (1-level)/2 and (1+level)/2 quantiles of best-of-k over resamples (the spread one budget of k gives).

    Args: values [n] finite scores; better 'min' or 'max'. Returns a frame with columns k, mean, lo, hi.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"expected_best_of_k needs a non-empty array of finite scores, got {values!r}")
    if better not in ("min", "max"):
        raise ValueError(f"better must be 'min' or 'max', got {better!r}")
    if n_boot < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1, got n_boot={n_boot}, level={level}")
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(values, (n_boot, 1)), axis=1)  # [n_boot, n]
    running = (np.minimum if better == "min" else np.maximum).accumulate(perms, axis=1)
    tail = (1.0 - level) / 2.0
    return pd.DataFrame({"k": np.arange(1, values.size + 1), "mean": running.mean(axis=0),
                         "lo": np.quantile(running, tail, axis=0), "hi": np.quantile(running, 1 - tail, axis=0)})


def save_figure(fig: Figure, path: str) -> str:
    """Save `fig` as PNG to a temporary file next to `path`, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _panels(n: int, width: float = 5.0, height: float = 4.0):
    fig = Figure(figsize=(width * n, height))
    return fig, [fig.add_subplot(1, n, i + 1) for i in range(n)]


def _dataset_panels(rows: pd.DataFrame, **size):
    """One panel per dataset: (figure, [(axis, dataset, that dataset's rows)]), datasets sorted."""
    datasets = sorted(rows["dataset"].unique())
    fig, axes = _panels(len(datasets), **size)
    return fig, [(ax, d, rows[rows["dataset"] == d]) for ax, d in zip(axes, datasets)]


def plot_score_distribution(df: pd.DataFrame, metric: str, path: str, which: str = "final") -> Optional[str]:
    """Box plot of the trial scores per model, one panel per dataset (Lucic et al. 2018, Fig. 3/5).

    Returns `path`, or None (nothing written) when no trial has a finite score.
    """
    rows = scored(df, metric, which)
    if rows.empty:
        return None
    col = score_column(metric, which)
    fig, panels = _dataset_panels(rows)
    for ax, dataset, part in panels:
        models = sorted(part["model"].unique())
        ax.boxplot([part.loc[part["model"] == m, col].astype(float).to_numpy() for m in models])
        labels = [f"{m} (n={int((part['model'] == m).sum())})" for m in models]
        ax.set_xticks(range(1, len(models) + 1), labels, rotation=30, ha="right")
        ax.set_title(f"{dataset}: {col} per trial")
        ax.set_ylabel(f"{metric} ({'lower' if direction(metric) == 'min' else 'higher'} is better)")
    return save_figure(fig, path)


def plot_budget_curves(df: pd.DataFrame, metric: str, path: str, which: str = "final",
                       n_boot: int = 1000, level: float = 0.95) -> Optional[str]:
    """Expected best score of k random trials vs k, per model, one panel per dataset (Lucic et al. 2018, Fig. 4).

    Lines are bootstrap means, bands the `level` interval of `expected_best_of_k`. None when nothing is scored.
    """
    rows = scored(df, metric, which)
    if rows.empty:
        return None
    col = score_column(metric, which)
    fig, panels = _dataset_panels(rows)
    for ax, dataset, part in panels:
        for model in sorted(part["model"].unique()):
            curve = expected_best_of_k(part.loc[part["model"] == model, col].astype(float), direction(metric),
                                       n_boot=n_boot, level=level)
            line, = ax.plot(curve["k"], curve["mean"], marker=".", label=model)
            ax.fill_between(curve["k"], curve["lo"], curve["hi"], color=line.get_color(), alpha=0.2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("budget k (trials)")
        ax.set_ylabel(f"expected {'min' if direction(metric) == 'min' else 'max'} {metric}")
        ax.set_title(f"{dataset}: best of k ({int(level * 100)}% band)")
        ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_precision_recall(df: pd.DataFrame, path: str, which: str = "final") -> Optional[str]:
    """Precision vs recall of every trial, coloured by model, one panel per dataset (Lucic et al. 2018, Fig. 6).

    None when no trial reports both precision and recall.
    """
    p, r = score_column("precision", which), score_column("recall", which)
    rows = scored(scored(df, "precision", which), "recall", which)
    if rows.empty:
        return None
    fig, panels = _dataset_panels(rows, width=4.5, height=4.5)
    for ax, dataset, part in panels:
        for model in sorted(part["model"].unique()):
            sel = part[part["model"] == model]
            ax.scatter(sel[r].astype(float), sel[p].astype(float), s=14, alpha=0.7, label=model)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"{dataset}: precision vs recall")
        ax.legend(fontsize="small")
    return save_figure(fig, path)
