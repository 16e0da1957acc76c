"""Study tables from the trial frame of `load_results`, written as markdown, CSV and LaTeX.

A trial's score is the column `<which>_<metric>` (`which` = 'final' or 'best'). Only trials whose state is
`done` or `diverged` and whose score is finite are scored; pending, running and failed trials are counted
(`failure_table`) but never scored. A configuration is a set of trials with identical bindings except the
seed (`config_id`, see load.py).
"""
import os
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd

from gan_bench.atomic import atomic_write_text
from gan_bench.report.load import direction

SCORED_STATES = ("done", "diverged")
STATES = ("done", "diverged", "failed", "running", "pending")
PR_METRICS = ("precision", "recall", "f1", "prd_f8", "prd_f1_8", "density", "coverage")


def score_column(metric: str, which: str = "final") -> str:
    if which not in ("final", "best"):
        raise ValueError(f"which must be 'final' or 'best', got {which!r}")
    return f"{which}_{metric}"


def scored(df: pd.DataFrame, metric: str, which: str = "final") -> pd.DataFrame:
    """Rows of finished trials (done or diverged) with a finite `<which>_<metric>`; empty if none."""
    col = score_column(metric, which)
    if df.empty or col not in df.columns:
        return df.iloc[0:0]
    values = pd.to_numeric(df[col], errors="coerce")
    return df[df["state"].isin(SCORED_STATES) & np.isfinite(values)]


def fmt(mean: float, std: float) -> str:
    """'mean ± std' with 4 significant digits; the mean alone when std is undefined (one seed)."""
    if not np.isfinite(std):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {std:.4g}"


def config_scores(df: pd.DataFrame, metric: str, which: str = "final") -> pd.DataFrame:
    """Mean and sample std (ddof=1) of the score over seeds, one row per (dataset, model, configuration)."""
    rows = scored(df, metric, which)
    col = score_column(metric, which)
    if rows.empty:
        return pd.DataFrame(columns=["dataset", "model", "config_id", "config", "seeds", "mean", "std", "trials"])
    grouped = rows.groupby(["dataset", "model", "config_id"], sort=True)
    out = grouped.agg(config=("config", "first"), seeds=(col, "size"), mean=(col, "mean"), std=(col, "std"))
    out = out.reset_index()
    # All trials of the configuration, scored or not: seeds < trials shows diverged/failed/unfinished seeds.
    totals = df.groupby(["dataset", "config_id"]).size()
    out["trials"] = [int(totals[(d, c)]) for d, c in zip(out["dataset"], out["config_id"])]
    return out


def best_configs(df: pd.DataFrame, metric: str, which: str = "final") -> pd.DataFrame:
    """For each (dataset, model), the configuration with the best mean score over seeds.

    This is the table of Lucic et al. 2018 (Table 2 / Fig. 5 "best FID per model"): the best hyperparameter
    setting of each model, reported as mean ± std over its random restarts. Best = lowest mean for
    lower-is-better metrics (`direction`), highest otherwise; ties go to the first configuration id.
    """
    per_config = config_scores(df, metric, which)
    if per_config.empty:
        return per_config.assign(**{metric: pd.Series(dtype=str)})
    ascending = direction(metric) == "min"
    ordered = per_config.sort_values(["dataset", "model", "mean", "config_id"],
                                     ascending=[True, True, ascending, True])
    best = ordered.groupby(["dataset", "model"], sort=True).head(1)
    best = best.sort_values(["dataset", "mean"], ascending=[True, ascending]).reset_index(drop=True)
    best[metric] = [fmt(m, s) for m, s in zip(best["mean"], best["std"])]
    return best[["dataset", "model", metric, "mean", "std", "seeds", "trials", "config", "config_id"]]


def pr_table(df: pd.DataFrame, which: str = "final", select_by: str = "f1") -> Optional[pd.DataFrame]:
    """Precision / recall / F1 (and PRD, density, coverage when present) of each model's best configuration.

    The configuration is chosen by the best mean `select_by` over seeds (Lucic et al. 2018, Sec. 6 reports the
    precision and recall of the model with the best F1); falls back to the first present metric when
    `select_by` is absent. Returns None when no trial reports any of `PR_METRICS`.
    """
    present = [m for m in PR_METRICS if not scored(df, m, which).empty]
    if not present:
        return None
    chooser = select_by if select_by in present else present[0]
    best = best_configs(df, chooser, which)
    rows = []
    for _, b in best.iterrows():
        members = df[(df["config_id"] == b["config_id"]) & (df["dataset"] == b["dataset"])]
        row = {"dataset": b["dataset"], "model": b["model"], "selected_by": chooser}
        for m in present:
            vals = pd.to_numeric(scored(members, m, which)[score_column(m, which)])
            row[m] = fmt(vals.mean(), vals.std()) if len(vals) else ""
            row[f"{m}_mean"], row[f"{m}_std"] = vals.mean(), vals.std()
        row.update(seeds=len(scored(members, chooser, which)), trials=len(members), config=b["config"])
        rows.append(row)
    return pd.DataFrame(rows)


def failure_table(df: pd.DataFrame) -> pd.DataFrame:
    """Trials per model and state (done, diverged, failed, running, pending), with totals."""
    counts = pd.crosstab(df["model"], df["state"]).reindex(columns=list(STATES), fill_value=0)
    extra = sorted(set(df["state"].dropna()) - set(STATES))
    if extra:
        counts = pd.concat([counts, pd.crosstab(df["model"], df["state"])[extra]], axis=1)
    counts["total"] = counts.sum(axis=1)
    return counts.reset_index()


def kurach_table(df: pd.DataFrame, metric: str, which: str = "final", agg: str = "best") -> pd.DataFrame:
    """Score per loss × penalty (rows) × discriminator normalization (columns), per dataset.

    In the layout of Kurach et al. 2019 ("A Large-Scale Study on Regularization and Normalization in GANs"):
    `agg` = 'best' (min or max by `direction`) or 'median' of the trial scores in each cell; empty cells
    (never trained) are left blank.
    """
    if agg not in ("best", "median"):
        raise ValueError(f"agg must be 'best' or 'median', got {agg!r}")
    rows = scored(df, metric, which)
    if rows.empty:
        return pd.DataFrame(columns=["dataset", "loss", "penalty"])
    func = "median" if agg == "median" else direction(metric)
    table = rows.pivot_table(index=["dataset", "loss", "penalty"], columns="d_norm",
                             values=score_column(metric, which), aggfunc=func)
    table.columns = [f"d_norm={c}" for c in table.columns]
    return table.reset_index()


def write_table(frame: pd.DataFrame, out_dir: str, stem: str, caption: str,
                text_columns: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """Write `frame` as `<stem>.csv` (all columns), `<stem>.md` and `<stem>.tex` (the `text_columns`).

    Each file is written atomically. Returns {'csv': path, 'md': path, 'tex': path}.
    """
    shown = frame[list(text_columns)] if text_columns is not None else frame
    paths = {ext: os.path.join(out_dir, f"{stem}.{ext}") for ext in ("csv", "md", "tex")}
    atomic_write_text(paths["csv"], frame.to_csv(index=False))
    markdown = shown.to_markdown(index=False, floatfmt=".4g") if len(shown) else "(no rows)"
    atomic_write_text(paths["md"], f"**{caption}**\n\n{markdown}\n")
    latex = shown.to_latex(index=False, escape=True, float_format="%.4g", caption=caption,
                           label=f"tab:{stem}")
    atomic_write_text(paths["tex"], latex.replace("±", r"$\pm$"))
    return paths
