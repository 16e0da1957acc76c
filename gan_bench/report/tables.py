"""Study tables from the trial frame of `load_results`: one table per metric group, failures, Kurach grids.

A trial's score is the column `<which>_<metric>` (`which` = 'final' or 'best'). A trial is scored on a group
when its state is `done` or `diverged` and its value of the group's ranking metric is finite; pending, running
and failed trials are counted (`failure_table`, the `trials` column) but never scored. A configuration is a set
of trials with identical bindings except the seed (`config_id`, see load.py). Each (dataset, model) row shows
the configuration with the best mean ranking metric (ties broken by the group's other metrics), as Lucic et al.
2018 report the best hyperparameters of each model.
"""
import dataclasses
import json
import math
from typing import Dict, List, Tuple

import numpy as np
import pandas as pd

from gan_bench.report import notes, protocols, summaries
from gan_bench.report.metric_groups import MetricGroup, direction
from gan_bench.report.naming import BOOKKEEPING, MODEL_KEYS, keys_varying_within_datasets, model_labels

SCORED_STATES = ("done", "diverged")
STATES = ("done", "diverged", "failed", "running", "pending")
# Columns load.py derives per trial (not configuration keys).
DERIVED = ("results_dir", "folder", "id", "model", "dataset", "state", "step", "error", "n_evals", "sweep",
           "config_id", "config", "loss", "penalty", "pack") + MODEL_KEYS


def score_column(metric: str, which: str = "final") -> str:
    if which not in ("final", "best"):
        raise ValueError(f"which must be 'final' or 'best', got {which!r}")
    return f"{which}_{metric}"


def values(df: pd.DataFrame, metric: str, which: str = "final") -> pd.Series:
    """`<which>_<metric>` as floats (NaN where a trial never reported it)."""
    col = score_column(metric, which)
    if col not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[col], errors="coerce").astype(float)


def scored(df: pd.DataFrame, metric: str, which: str = "final") -> pd.DataFrame:
    """Rows of finished trials (done or diverged) with a finite `<which>_<metric>`; empty if none."""
    if df.empty:
        return df
    return df[df["state"].isin(SCORED_STATES) & np.isfinite(values(df, metric, which))]


def config_keys(rows: pd.DataFrame) -> List[str]:
    """Configuration keys that vary among the trials of one dataset in `rows` (no bookkeeping, no model keys)."""
    candidates = [c for c in rows.columns if c not in DERIVED and c not in BOOKKEEPING
                  and not c.startswith(("final_", "best_"))]
    return keys_varying_within_datasets(rows, candidates)


def in_group(df: pd.DataFrame, group: MetricGroup, which: str = "final") -> pd.DataFrame:
    """Trials that reported a metric of `group`, or were configured to compute it (trial.metrics)."""
    reported = np.zeros(len(df), dtype=bool)
    for key in group.keys:
        reported |= values(df, key, which).notna().to_numpy()
    if group.source and "metrics" in df.columns:
        reported |= df["metrics"].map(lambda text: group.source in _metric_list(text)).to_numpy()
    return df[reported]


def _metric_list(text) -> List[str]:
    try:
        parsed = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return [str(text)]
    return [str(x) for x in parsed] if isinstance(parsed, (list, tuple)) else [str(parsed)]


def _rank_key(group: MetricGroup, sums: Dict[str, summaries.Summary]) -> Tuple[float, ...]:
    """Sort key of one configuration: the ranking metric first, then the group's other metrics; lower first."""
    order = [group.primary] + [k for k in group.keys if k != group.primary]
    key = []
    for metric in order:
        value = sums[metric].value
        if value != value:
            key.append(math.inf)
        else:
            key.append(value if direction(metric) == "min" else -value)
    return tuple(key)


@dataclasses.dataclass
class Table:
    """A table: every column (`frame`, for CSV), the columns the text formats show, and notes on the values.

    decimals: metric key → decimals of its column (`summaries.column_decimals`), for text that quotes the table.
    headers: frame column → the header the text formats show instead (configuration keys without underscores).
    protocol: how the ranking metric was measured, for the caption ('' for metrics without protocol records).
    """
    frame: pd.DataFrame
    shown: List[str]
    notes: List[str]
    decimals: Dict[str, int] = dataclasses.field(default_factory=dict)
    headers: Dict[str, str] = dataclasses.field(default_factory=dict)
    protocol: str = ""


def header(key: str) -> str:
    """A configuration key as a column header, in the words of the metric headers: 'batch_size' → 'batch size'."""
    return key.replace("_", " ")


def metric_table(df: pd.DataFrame, group: MetricGroup, which: str = "final") -> Table:
    """Rows (dataset, model) of the trials in `group`: best configuration, mean ± std of each metric over seeds.

    Columns: dataset, model, one text column per metric (its label), seeds (scored trials of the configuration),
    trials (all its trials), the configuration keys that vary within a dataset, note (why a row is empty or
    suspicious), and for CSV `<metric>_mean`, `<metric>_std`, `<metric>_inf` (seeds with an infinite value).
    Every value of a metric column has the same decimals (`summaries.column_decimals` over the column).
    A column holds, per dataset, scores of one protocol (`protocols`): ValueError naming the differing fields
    otherwise (`protocols.split_by_protocol` gives the parts that each make a table); the notes state each
    column's protocol and `protocol` the ranking metric's.
    """
    members = in_group(df, group, which)
    protocols.check_one_protocol(members, group, which)
    keys = config_keys(members)
    rows = []
    for dataset in sorted(members["dataset"].astype(str).unique()):
        part = members[members["dataset"].astype(str) == dataset]
        capacity = group.capacity(dataset) if group.capacity else None
        ranked = []
        for model in sorted(part["model"].unique()):
            rank, row = _best_row(part[part["model"] == model], group, which, keys)
            ranked.append((rank, model, {**row, "dataset": dataset, "model": model, "_capacity": capacity}))
        rows.extend(row for _, _, row in sorted(ranked, key=lambda item: item[:2]))
    decimals = {key: summaries.column_decimals([r["_sums"][key] for r in rows if "_sums" in r], group.metric(key))
                for key in group.keys}
    for row in rows:
        sums, capacity = row.pop("_sums", None), row.pop("_capacity")
        for key in group.keys:
            metric = group.metric(key)
            row[metric.label] = summaries.DASH if sums is None else summaries.cell(
                sums[key], metric, capacity if key == group.keys[0] else None, decimals[key])
    labels = [group.metric(k).label for k in group.keys]
    shown = ["dataset", "model"] + labels + ["seeds", "trials"] + keys
    frame = pd.DataFrame(rows, columns=shown + ["note", "config_id"] + [
        f"{k}_{s}" for k in group.keys for s in ("mean", "std", "inf")])
    if frame["note"].fillna("").astype(str).str.len().any():
        shown.append("note")
    table_notes = notes.table_notes(members, frame, group, which) + protocols.column_notes(members, group, which)
    return Table(frame=frame, shown=shown, notes=table_notes, decimals=decimals, headers={k: header(k) for k in keys},
                 protocol=protocols.caption(members, group, which))


def _shared_values(trials: pd.DataFrame, keys: List[str]) -> dict:
    """The configuration values every trial of `trials` shares (a key the trials disagree on is left out)."""
    return {k: trials[k].iloc[0] for k in keys if trials[k].astype(str).nunique() == 1}


def _best_row(trials: pd.DataFrame, group: MetricGroup, which: str, keys: List[str]) -> Tuple[Tuple[float, ...], dict]:
    """(rank key, row) of one model: its best configuration's summaries (`_sums`), or an empty row with the reason.

    An empty row still shows the configuration values all the model's trials share (a sweep that runs PacGAN with
    a larger batch shows it before any trial finishes).
    """
    ranked_configs = []
    for config_id, config in scored(trials, group.primary, which).groupby("config_id", sort=True):
        sums = {k: summaries.summarize(values(config, k, which)) for k in group.keys}
        ranked_configs.append((_rank_key(group, sums), config_id, sums))
    if not ranked_configs:
        row = {**_shared_values(trials, keys), "seeds": 0, "trials": len(trials),
               "note": notes.empty_row_reason(trials, group, which)}
        return (math.inf,), row
    rank, config_id, sums = min(ranked_configs, key=lambda item: (item[0], item[1]))
    config = trials[trials["config_id"] == config_id]
    row: dict = {"_sums": sums}
    for key in group.keys:
        row[f"{key}_mean"], row[f"{key}_std"], row[f"{key}_inf"] = sums[key].mean, sums[key].std, sums[key].n_inf
    row.update({k: config.iloc[0][k] for k in keys})
    flagged = group.caveat is not None and group.caveat.applies({k: sums[k].value for k in group.keys})
    published = protocols.published_note(config, which) if "fid" in group.keys else ""
    row.update(seeds=len(scored(config, group.primary, which)), trials=len(config), config_id=config_id,
               note="; ".join(n for n in (group.caveat.note() if flagged else "", published) if n))
    return rank, row


def failure_table(df: pd.DataFrame) -> Table:
    """Trials per dataset, model and state (done, diverged, failed, running, pending), with totals."""
    index = [df["dataset"].astype(str), df["model"]]
    counts = pd.crosstab(index, df["state"]).reindex(columns=list(STATES), fill_value=0)
    extra = sorted(set(df["state"].dropna()) - set(STATES))
    if extra:
        counts = pd.concat([counts, pd.crosstab(index, df["state"])[extra]], axis=1)
    counts["total"] = counts.sum(axis=1)
    frame = counts.reset_index().sort_values(["dataset", "model"]).reset_index(drop=True)
    frame.columns.name = None
    return Table(frame=frame, shown=list(frame.columns), notes=notes.failure_notes(df))


def kurach_table(df: pd.DataFrame, metric: str, which: str = "final", agg: str = "best") -> pd.DataFrame:
    """Score per model (loss, penalty, packing) × discriminator normalization, per dataset.

    In the layout of Kurach et al. 2019 ("A Large-Scale Study on Regularization and Normalization in GANs"):
    `agg` = 'best' (min or max by `direction`) or 'median' of the trial scores in each cell; cells never trained
    are left blank.
    """
    if agg not in ("best", "median"):
        raise ValueError(f"agg must be 'best' or 'median', got {agg!r}")
    rows = scored(df, metric, which)
    if rows.empty:
        return pd.DataFrame(columns=["dataset", "model"])
    rows = rows.assign(model=model_labels(rows, exclude=("d_norm",)))
    func = "median" if agg == "median" else direction(metric)
    table = rows.pivot_table(index=["dataset", "model"], columns="d_norm", values=score_column(metric, which),
                             aggfunc=func)
    table.columns = [f"D norm: {c}" for c in table.columns]
    return table.reset_index()
