"""`report_main`: results folders → tables (markdown, CSV, LaTeX), figures (PNG) and an index.md, under `out/`.

Every file is written to a temporary name in `out/` and renamed into place, so an interrupted report leaves
whole files only (older ones, or new ones), never a half-written table.
"""
import os
from typing import Dict, Sequence

from gan_bench.atomic import atomic_write_text
from gan_bench.report import figures, tables
from gan_bench.report.load import load_results

FIGURE_TITLES = {
    "scores": "distribution of scores per model",
    "budget": "expected best score of k random trials (Lucic et al. 2018, Fig. 4)",
    "precision_recall": "precision vs recall per trial",
}


def report_main(dirs: Sequence[str], out: str, metric: str = "fid", which: str = "final",
                n_boot: int = 1000) -> Dict[str, str]:
    """Write the study report of the trials under `dirs` into `out`; returns {name: path} of every file.

    metric: the score tables and figures rank by (a key of metrics.jsonl: fid, kid_mean, is_mean, ...).
    which: 'final' (last evaluation) or 'best' (best evaluation of each trial).
    Raises ValueError when no trial is found, or when no trial ever reported `metric`.
    """
    tables.score_column(metric, which)  # checks `which` before any work
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    df = load_results(dirs)
    if df.empty:
        raise ValueError(f"no trial folders (with trial.json, config.gin, status.json or metrics.jsonl) "
                         f"found in {list(map(str, dirs))}")
    col = tables.score_column(metric, which)
    if col not in df.columns:
        known = sorted(c[len(which) + 1:] for c in df.columns if c.startswith(f"{which}_"))
        raise ValueError(f"metric {metric!r} is in no trial's metrics.jsonl under {list(map(str, dirs))}; "
                         f"metrics found: {known}")
    os.makedirs(out, exist_ok=True)
    written: Dict[str, str] = {}
    descriptions: Dict[str, str] = {}

    def add_table(name, frame, caption, text_columns=None):
        for ext, path in tables.write_table(frame, out, name, caption, text_columns).items():
            written[f"{name}.{ext}"] = path
            descriptions[f"{name}.{ext}"] = caption

    best = tables.best_configs(df, metric, which)
    add_table("lucic_best", best, f"Best configuration per model and dataset: {which} {metric}, mean ± std "
              f"over seeds (seeds scored / trials run)", ["dataset", "model", metric, "seeds", "trials", "config"])
    pr = tables.pr_table(df, which)
    if pr is not None:
        shown = ["dataset", "model", "selected_by"] + [c for c in tables.PR_METRICS if c in pr.columns]
        chooser = pr["selected_by"].iloc[0] if len(pr) else "f1"
        add_table("precision_recall", pr, f"Precision / recall / F1 ({which}), mean ± std over seeds of the "
                  f"best configuration by {chooser}", shown + ["seeds", "trials"])
    add_table("failures", tables.failure_table(df), "Trials per model and state")
    for agg in ("best", "median"):
        add_table(f"kurach_{agg}", tables.kurach_table(df, metric, which, agg),
                  f"{agg} {which} {metric} per loss × penalty × discriminator normalization")
    trials_csv = os.path.join(out, "trials.csv")
    atomic_write_text(trials_csv, df.to_csv(index=False))
    written["trials.csv"] = trials_csv
    descriptions["trials.csv"] = "every trial, every column"

    plots = {
        "scores": figures.plot_score_distribution(df, metric, os.path.join(out, "scores.png"), which),
        "budget": figures.plot_budget_curves(df, metric, os.path.join(out, "budget.png"), which, n_boot=n_boot),
        "precision_recall": figures.plot_precision_recall(df, os.path.join(out, "precision_recall.png"), which),
    }
    for name, path in plots.items():
        if path is not None:
            written[f"{name}.png"] = path
            descriptions[f"{name}.png"] = FIGURE_TITLES[name]

    lines = [f"# GAN study report: {which} {metric}", "",
             f"{len(df)} trials from {', '.join(map(str, dirs))}; scored trials: "
             f"{len(tables.scored(df, metric, which))} (done or diverged, finite {col}).", ""]
    for name in sorted(written):
        lines.append(f"- [{name}]({name}): {descriptions[name]}")
    index = os.path.join(out, "index.md")
    atomic_write_text(index, "\n".join(lines) + "\n")
    written["index.md"] = index
    return written
