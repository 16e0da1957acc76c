"""Study figures (PNG) from the trial frame: per-trial scores, best-of-k budget curves, metric trade-offs.

Drawn with matplotlib's object API on the Agg canvas (no pyplot state, no display) and written atomically.
Every figure has a title; every series has its own colour, marker and line style, and series that share values
are drawn side by side (small x offsets) or semi-transparent so none hides another; legends sit below the axes,
where they cover no data. One panel per dataset. Each function returns the path, or None when nothing
informative can be drawn: each returns (path, "") or (None, the reason nothing was drawn).
"""
import io
import itertools
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gan_bench.atomic import atomic_write_bytes
from gan_bench.report.metric_groups import MetricGroup, direction
from gan_bench.report.tables import scored, values

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", ":", "-.")
MIN_BUDGET_TRIALS = 3
Plot = Tuple[Optional[str], str]  # (path written, "") or (None, why nothing was drawn)


def expected_best_of_k(values_, better: str = "min", n_boot: int = 1000, level: float = 0.95,
                       seed: int = 0) -> pd.DataFrame:
    """Expected best score among k trials drawn at random, k = 1..n (Lucic et al. 2018, Sec. 5, Fig. 4).

    Bootstrap: each resample is a random permutation of the n scores; its first k entries are a uniform random
    k-subset drawn without replacement, so the running min (or max) of the permutation gives the best-of-k for
    every k at once. `mean` estimates E[best of k] (for 'min' the closed form is
    Σ_i v_(i) C(n-i, k-1) / C(n, k) over the ascending order statistics v_(1..n)); `lo`/`hi` are the
    (1-level)/2 and (1+level)/2 quantiles of best-of-k over resamples (the spread one budget of k gives).

    Args: values_ [n] finite scores; better 'min' or 'max'. Returns a frame with columns k, mean, lo, hi.
    """
    v = np.asarray(values_, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"expected_best_of_k needs a non-empty array of finite scores, got {v!r}")
    if better not in ("min", "max"):
        raise ValueError(f"better must be 'min' or 'max', got {better!r}")
    if n_boot < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1, got n_boot={n_boot}, level={level}")
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(v, (n_boot, 1)), axis=1)  # [n_boot, n]
    running = (np.minimum if better == "min" else np.maximum).accumulate(perms, axis=1)
    tail = (1.0 - level) / 2.0
    return pd.DataFrame({"k": np.arange(1, v.size + 1), "mean": running.mean(axis=0),
                         "lo": np.quantile(running, tail, axis=0), "hi": np.quantile(running, 1 - tail, axis=0)})


def save_figure(fig: Figure, path: str) -> str:
    """Render `fig` to PNG in memory and write it atomically to `path` (gan_bench.atomic)."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)  # the constrained layout already fits titles and legends
    atomic_write_bytes(path, buffer.getvalue())
    return path


def styles(models: List[str]) -> Dict[str, dict]:
    """A distinct (colour, marker, line style) per model, stable for a given model order."""
    colours = [f"C{i}" for i in range(10)]
    cycle = zip(itertools.cycle(colours), itertools.cycle(MARKERS), itertools.cycle(LINESTYLES))
    return {m: {"color": c, "marker": mk, "linestyle": ls} for m, (c, mk, ls) in zip(models, cycle)}


def _panels(datasets: List[str], title: str, width: float = 5.0, height: float = 4.0):
    """One panel per dataset side by side, `width` inches each, under one figure title."""
    fig = Figure(figsize=(width * len(datasets), height), layout="constrained")
    fig.suptitle(title[:1].upper() + title[1:], fontsize="large")
    return fig, [fig.add_subplot(1, len(datasets), i + 1) for i in range(len(datasets))]


def _legend_below(ax, n_entries: int):
    if n_entries:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=min(2, n_entries), fontsize="small",
                  frameon=False)


def _offsets(n: int, spread: float) -> np.ndarray:
    """x offsets that place n series side by side around 0, `spread` wide in all."""
    return np.zeros(1) if n == 1 else np.linspace(-spread / 2, spread / 2, n)


def _model_order(rows: pd.DataFrame, order: Optional[List[str]]) -> List[str]:
    """Models of `rows`, those in `order` first (in that order, each once), then the rest sorted."""
    present = set(rows["model"].unique())
    first = list(dict.fromkeys(m for m in (order or []) if m in present))
    return first + sorted(present - set(first))


def plot_scores(df: pd.DataFrame, group: MetricGroup, path: str, which: str = "final",
                order: Optional[List[str]] = None) -> Plot:
    """Every scored trial's ranking metric per model (points, jittered), with the model's mean ± std."""
    rows = scored(df, group.primary, which)
    metric = group.metric(group.primary)
    if rows.empty:
        return None, f"no trial has a finite {metric.label}"
    if values(rows, group.primary, which).nunique() == 1:
        return None, f"every scored trial has {metric.label} = {values(rows, group.primary, which).iloc[0]:g}"
    scale = 100.0 if metric.percent else 1.0
    datasets = sorted(rows["dataset"].astype(str).unique())
    better = "lower" if direction(group.primary) == "min" else "higher"
    most = int(rows.groupby("dataset")["model"].nunique().max())
    fig, axes = _panels(datasets, f"{metric.label} of every scored trial ({which} evaluation; {better} is better)",
                        width=max(4.0, 1.1 * most), height=4.5)
    rng = np.random.default_rng(0)
    look = styles(_model_order(rows, order))  # one style per model across panels
    for ax, dataset in zip(axes, datasets):
        part = rows[rows["dataset"].astype(str) == dataset]
        models = _model_order(part, order)
        for i, model in enumerate(models):
            v = values(part[part["model"] == model], group.primary, which).to_numpy() * scale
            ax.scatter(i + rng.uniform(-0.12, 0.12, v.size), v, s=28, alpha=0.6, color=look[model]["color"],
                       marker=look[model]["marker"], zorder=2)
            ax.errorbar(i + 0.28, v.mean(), yerr=v.std(ddof=1) if v.size > 1 else 0, fmt="_", color="black",
                        markersize=12, capsize=3, zorder=3)
        ax.set_xticks(range(len(models)), [f"{m} (n={int((part['model'] == m).sum())})" for m in models],
                      rotation=35, ha="right", rotation_mode="anchor", fontsize="small")
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_title(f"{dataset} (black: mean ± std)", fontsize="medium")
        ax.set_ylabel(metric.label)
    return save_figure(fig, path), ""


def plot_budget_curves(df: pd.DataFrame, group: MetricGroup, path: str, which: str = "final",
                       n_boot: int = 1000, level: float = 0.95, order: Optional[List[str]] = None) -> Plot:
    """Expected best ranking metric of k random trials vs k, per model (Lucic et al. 2018, Fig. 4).

    Lines are bootstrap means over all scored trials of the model (every configuration and seed), bands the
    `level` interval of `expected_best_of_k`. Not drawn when no model has `MIN_BUDGET_TRIALS` scored trials
    (a curve needs a few budgets) or when every score is the same.
    """
    rows = scored(df, group.primary, which)
    metric = group.metric(group.primary)
    if rows.empty or rows.groupby(["dataset", "model"]).size().max() < MIN_BUDGET_TRIALS:
        return None, f"no model has {MIN_BUDGET_TRIALS} scored trials of {metric.label}"
    if values(rows, group.primary, which).nunique() == 1:
        return None, f"every scored trial has {metric.label} = {values(rows, group.primary, which).iloc[0]:g}"
    scale = 100.0 if metric.percent else 1.0
    datasets = sorted(rows["dataset"].astype(str).unique())
    best = "min" if direction(group.primary) == "min" else "max"
    fig, axes = _panels(datasets, f"Expected best {metric.label} of k random trials ({int(level * 100)} % band)",
                        height=4.5)
    look = styles(_model_order(rows, order))
    for ax, dataset in zip(axes, datasets):
        part = rows[rows["dataset"].astype(str) == dataset]
        models = _model_order(part, order)
        shift = _offsets(len(models), 0.3)
        for model, dx in zip(models, shift):
            curve = expected_best_of_k(values(part[part["model"] == model], group.primary, which) * scale,
                                       direction(group.primary), n_boot=n_boot, level=level)
            ax.plot(curve["k"] + dx, curve["mean"], label=model, markersize=6, alpha=0.9, **look[model])
            ax.fill_between(curve["k"] + dx, curve["lo"], curve["hi"], color=look[model]["color"], alpha=0.08,
                            linewidth=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("budget k (trials)")
        ax.set_ylabel(f"expected {best} {metric.label}")
        ax.set_title(dataset, fontsize="medium")
        _legend_below(ax, len(models))
    return save_figure(fig, path), ""


def plot_tradeoff(df: pd.DataFrame, group: MetricGroup, path: str, which: str = "final",
                  order: Optional[List[str]] = None) -> Plot:
    """Per-trial scatter of the group's two trade-off metrics (modes vs high-quality %, precision vs recall)."""
    if group.scatter is None:
        return None, f"{group.title}: no pair of metrics to plot against each other"
    x_key, y_key = group.scatter
    rows = scored(scored(df, x_key, which), y_key, which)
    x_metric, y_metric = group.metric(x_key), group.metric(y_key)
    if rows.empty:
        return None, f"no trial has finite {x_metric.label} and {y_metric.label}"
    xs, ys = values(rows, x_key, which), values(rows, y_key, which)
    if xs.nunique() == 1 and ys.nunique() == 1:
        return None, (f"every trial has {x_metric.label} = {xs.iloc[0]:g} and {y_metric.label} = "
                      f"{ys.iloc[0]:g}: nothing to plot")
    datasets = sorted(rows["dataset"].astype(str).unique())
    fig, axes = _panels(datasets, f"{y_metric.label} vs {x_metric.label}, one point per trial ({which})",
                        width=4.8, height=4.6)
    look = styles(_model_order(rows, order))
    for ax, dataset in zip(axes, datasets):
        part = rows[rows["dataset"].astype(str) == dataset]
        models = _model_order(part, order)
        for model in models:
            sel = part[part["model"] == model]
            x = values(sel, x_key, which) * (100.0 if x_metric.percent else 1.0)
            y = values(sel, y_key, which) * (100.0 if y_metric.percent else 1.0)
            ax.scatter(x, y, s=40, alpha=0.6, label=model, color=look[model]["color"],
                       marker=look[model]["marker"], edgecolors="black", linewidths=0.4)
        ax.set_xlabel(x_metric.label)
        ax.set_ylabel(y_metric.label)
        ax.set_title(dataset, fontsize="medium")
        ax.margins(0.08)
        _legend_below(ax, len(models))
    return save_figure(fig, path), ""
