"""The one sentence that opens index.md: per dataset, the best model against the others, with seed noise.

For each dataset the first metric table that scores it is used (metric groups in `GROUPS` order: mode counts
before image scores). The best row is set against the other scored rows on the ranking metric; the gap to the
runner-up is called seed noise when it is within one pooled standard deviation of the two, and said to have no
noise estimate when neither has two seeds. Caveats that the table's note column carries for the best row (a
diffuse generator's mode count) travel into the sentence, and a metric that is 0 everywhere is reported as
such, not as a win.
"""
from typing import Sequence, Tuple

import pandas as pd

from gan_bench.report import summaries
from gan_bench.report.metric_groups import MetricGroup
from gan_bench.report.notes import definition as _definition
from gan_bench.report.tables import Table

MAX_LISTED = 3  # other models named one by one; beyond that, the runner-up and the range of the rest


def _summary(row: pd.Series, key: str) -> summaries.Summary:
    """The Summary a table row was written from (its CSV columns)."""
    return summaries.Summary(n=int(row["seeds"]), n_inf=int(row[f"{key}_inf"]), mean=float(row[f"{key}_mean"]),
                             std=float(row[f"{key}_std"]))


def _value(group: MetricGroup, row: pd.Series, key: str, capacity: bool = True) -> str:
    """A row's value of `key` as the sentence writes it ('91.3 ± 1.53 %', '8.0 ± 0.0 of 8')."""
    metric = group.metric(key)
    text = summaries.cell(_summary(row, key), metric)
    if metric.percent and text not in (summaries.DASH, summaries.INF):
        text = text.replace(" (1 seed)", "") + " %"
    if capacity and group.capacity and key == group.keys[0]:
        cap = group.capacity(str(row["dataset"]))
        if cap:
            text = f"{text} of {cap}"
    return text


def _all_zero(rows: pd.DataFrame, key: str) -> bool:
    """Every seed of every row is 0: mean 0 and no spread (the metrics with a zero meaning are >= 0)."""
    return bool(((rows[f"{key}_mean"] == 0) & (rows[f"{key}_std"].fillna(0) == 0)).all())


def _headline(group: MetricGroup, row: pd.Series) -> str:
    """'PacGAN2 covers 8.0 ± 0.0 of 8 modes with 91 ± 2 % high-quality samples' or 'X has F1 0.5 ± 0.1'."""
    primary = group.metric(group.primary)
    if group.name in ("modes_2d", "stacked_mnist") and group.primary == group.keys[0]:
        text = f"{row['model']} covers {_value(group, row, group.primary)} modes"
        if group.name == "modes_2d":
            text += f" with {_value(group, row, 'high_quality_fraction')} high-quality samples"
        return text
    return f"{row['model']} has the best {primary.label} ({_value(group, row, group.primary)})"


def _noise(group: MetricGroup, best: pd.Series, second: pd.Series) -> str:
    a, b = _summary(best, group.primary), _summary(second, group.primary)
    pooled = summaries.pooled_std(a, b)
    gap = abs(a.mean - b.mean)
    if gap == 0:
        return f"tied with {second['model']} on {group.metric(group.primary).label}"
    if pooled != pooled:
        return "one seed each, so the gap has no seed-noise estimate"
    lead = f"the gap to {second['model']}, {summaries.number(gap)},"
    if gap <= pooled:
        return f"{lead} is within seed noise: pooled std {summaries.number(pooled)}"
    return f"{lead} is {gap / pooled:.1f} pooled std"


def dataset_clause(group: MetricGroup, frame: pd.DataFrame, dataset: str) -> str:
    """'on ring8, PacGAN2 covers ... vs ... for NS GAN (3 seeds each; the gap to NS GAN, ..., is ...)'."""
    rows = frame[(frame["dataset"] == dataset) & (frame["seeds"] > 0)].reset_index(drop=True)
    primary = group.metric(group.primary)
    if rows.empty:
        return f"on {dataset}, no trial finished with a {primary.label}"
    zero = [m for m in group.metrics if m.zero_means and m.better == "max" and _all_zero(rows, m.key)]
    if group.primary in [m.key for m in zero]:
        return (f"on {dataset}, every model scores {primary.label} = 0 ({_definition(zero[0].zero_means)}, in "
                f"all {int(rows['seeds'].sum())} scored trials)")
    best = rows.iloc[0]
    text = f"on {dataset}, {_headline(group, best)}"
    flagged = int(rows["note"].fillna("").astype(bool).sum())
    if isinstance(best.get("note"), str) and best["note"]:
        text += f" (but {best['note']}; {flagged} of {len(rows)} models carry this caveat)"
    others = rows.iloc[1:]
    if others.empty:
        return text + f", the only model scored ({int(best['seeds'])} seed(s))"
    listed = others.iloc[:MAX_LISTED] if len(others) <= MAX_LISTED else others.iloc[:1]
    parts = [f"{_value(group, r, group.primary, capacity=False)} for {r['model']}" for _, r in listed.iterrows()]
    if len(others) > len(listed):
        rest = others.iloc[1:][f"{group.primary}_mean"].astype(float)
        parts.append(f"{summaries.number(rest.min(), primary)}–{summaries.number(rest.max(), primary)} for the "
                     f"other {len(rest)} models")
    seeds = sorted({int(s) for s in rows["seeds"]})
    seed_text = f"{seeds[0]} seeds each" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]} seeds per model"
    return f"{text} vs {', '.join(parts)} ({seed_text}; {_noise(group, best, others.iloc[0])})"


def finding_sentence(tables: Sequence[Tuple[MetricGroup, Table]]) -> str:
    """One sentence over all datasets of the study, from the metric tables in their group order.

    Each dataset is described by the first table that scores it, or by the first table that lists it when none
    does (its clause then says that nothing was scored).
    """
    chosen = {}  # dataset → (group, frame, has scores), in the order of first appearance
    for group, table in tables:
        frame = table.frame
        for dataset in frame["dataset"].astype(str).unique():
            has_scores = bool((frame.loc[frame["dataset"] == dataset, "seeds"] > 0).any())
            if dataset not in chosen or (has_scores and not chosen[dataset][2]):
                chosen[dataset] = (group, frame, has_scores)
    if not chosen:
        return "No trial reported a metric."
    order = {id(g): i for i, (g, _) in enumerate(tables)}
    ordered = sorted(chosen.items(), key=lambda item: (order[id(item[1][0])], item[0]))
    clauses = [dataset_clause(group, frame, dataset) for dataset, (group, frame, _) in ordered]
    sentence = "; ".join(clauses)
    return sentence[0].upper() + sentence[1:] + "."
