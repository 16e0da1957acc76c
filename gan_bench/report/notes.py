"""Reasons written next to values a reader would otherwise misread: all zeros, ∞, empty rows, failures.

Every note is derived from the trials and from the metric definitions in `metric_groups`; none names a
particular results folder. A note says what the value means by definition and what in the data produced it
(how many trials, how long they trained, what their state or error was).
"""
from typing import List

import numpy as np
import pandas as pd

from gan_bench.report.metric_groups import MetricGroup, real_high_quality_fraction

SCORED_STATES = ("done", "diverged")


def definition(text: str) -> str:
    """Fill the high-quality radius (num_std of mixture_mode_stats) into a metric's definition text."""
    return text.format(k=real_high_quality_fraction()[0]) if "{k" in text else text


def _values(df: pd.DataFrame, key: str, which: str) -> pd.Series:
    col = f"{which}_{key}"
    if col not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[col], errors="coerce").astype(float)


def _steps(trials: pd.DataFrame) -> str:
    steps = sorted({int(s) for s in pd.to_numeric(trials.get("train_steps"), errors="coerce").dropna()}) \
        if "train_steps" in trials.columns else []
    return " or ".join(f"{s:,}" for s in steps) if steps else "an unknown number of"


def table_notes(members: pd.DataFrame, frame: pd.DataFrame, group: MetricGroup, which: str) -> List[str]:
    """Notes under a metric table: how rows were formed, and every all-zero, ∞ or empty value explained."""
    out = [f"Each row: the configuration with the best mean {group.metric(group.primary).label} of that model "
           f"(ties broken by the other columns); mean ± sample std over its seeds. seeds = trials of that "
           f"configuration scored (done or diverged with a finite {group.metric(group.primary).label}), "
           f"trials = all its trials. Values are the {which} evaluation of each trial."]
    if group.name == "modes_2d":
        k, real = real_high_quality_fraction()
        out.append(f"A mode counts as covered once one generated sample lies within {k:g} std of it, so read "
                   f"the count with the high-quality fraction (share of samples within {k:g} std of their "
                   f"nearest mode; {100 * real:.1f} % for real data): a diffuse cloud covers modes with a few "
                   f"stray samples.")
    finished = members[members["state"].isin(SCORED_STATES)]
    for dataset in sorted(finished["dataset"].astype(str).unique()):
        part = finished[finished["dataset"].astype(str) == dataset]
        zero = [m for m in group.metrics if m.zero_means and m.better == "max"
                and _values(part, m.key, which).notna().any()
                and (_values(part, m.key, which).dropna() == 0).all()]
        if zero:
            meanings = "; ".join(f"{m.label} = 0: {definition(m.zero_means)}" for m in zero)
            verb = "is" if len(zero) == 1 else "are"
            out.append(f"{dataset}: {', '.join(m.label for m in zero)} {verb} 0 in all {len(part)} finished trials "
                       f"({meanings}). The metric found no sample of the data's kind: these trials trained "
                       f"{_steps(part)} steps; if their sample images (samples/ in each trial folder) show blobs, "
                       f"that budget is too short for the generator to draw the data.")
    for metric in group.metrics:
        v = _values(finished, metric.key, which)
        n_inf = int(np.isinf(v).sum())
        if n_inf:
            meaning = definition(metric.inf_means) or "the metric is not finite for these trials"
            out.append(f"∞ ({metric.label}): {n_inf} of {int(v.notna().sum())} finished trials; {meaning}. "
                       f"Infinite seeds are counted in the seeds column and kept out of the finite mean.")
    empty = frame[frame["seeds"] == 0]
    if len(empty):
        out.append(f"— (empty row): no scored trial; the note column says why ({len(empty)} of {len(frame)} rows).")
    flagged = frame[(frame["seeds"] > 0) & frame["note"].fillna("").astype(bool)]
    if len(flagged):
        out.append(f"note column: a caveat on the numbers of {len(flagged)} of {len(frame)} rows.")
    return out


def empty_row_reason(trials: pd.DataFrame, group: MetricGroup, which: str) -> str:
    """Why a model has no scored trial in a table: unfinished, failed, diverged or metric never computed."""
    label = group.metric(group.primary).label
    states = trials["state"].value_counts()
    parts = []
    waiting = int(states.get("running", 0) + states.get("pending", 0))
    if waiting:
        parts.append(f"{waiting} trial(s) not finished")
    failed = trials[trials["state"] == "failed"]
    if len(failed):
        first = str(failed["error"].dropna().iloc[0])[:100] if failed["error"].notna().any() else "no error text"
        parts.append(f"{len(failed)} failed ({first})")
    finished = trials[trials["state"].isin(SCORED_STATES)]
    v = _values(finished, group.primary, which)
    if int(v.isna().sum()):
        parts.append(f"{int(v.isna().sum())} finished without a {label} (not computed)")
    if int(np.isinf(v).sum()):
        diverged = int((finished["state"] == "diverged").sum())
        parts.append(f"{int(np.isinf(v).sum())} with {label} = ∞" + (f" ({diverged} diverged)" if diverged else ""))
    return "no scored trial: " + "; ".join(parts) if parts else "no scored trial"


def failure_notes(df: pd.DataFrame) -> List[str]:
    """Notes under the failure table: what each state means, and the errors of failed trials."""
    out = ["done: trained to the end; diverged: stopped at a non-finite loss (scored on its last evaluation); "
           "failed: an error (below); running / pending: not finished."]
    failed = df[df["state"] == "failed"]
    errors = failed["error"].fillna("no error text").astype(str).str.slice(0, 160)
    for error, count in errors.value_counts().head(5).items():
        example = failed.loc[errors == error, "id"].iloc[0]
        out.append(f"failed ×{count} (e.g. trial {example}): {error}")
    if not len(failed) and (df["state"] == "done").all():
        out.append(f"All {len(df)} trials are done.")
    return out
