"""The one sentence that opens index.md: per dataset, the best model against the others, with seed noise.

For each dataset the first metric table that scores it is used (metric groups in `GROUPS` order: mode counts
before image scores). The best row is set against the other scored rows on the ranking metric; the gap to the
runner-up is called seed noise when it is within one pooled standard deviation of the two, and said to have no
noise estimate when neither has two seeds. Numbers are written with the decimals of their table column. A
caveat the tables carry for some rows (a diffuse generator's mode count, `metric_groups.Caveat`) is stated once
at the end for all the rows it concerns, as are the models with no scored trial; a metric that is 0 everywhere
is reported as such, not as a win.
"""
from typing import Dict, List, Sequence, Tuple

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


def _value(group: MetricGroup, table: Table, row: pd.Series, key: str, capacity: bool = True) -> str:
    """A row's value of `key` as its table column writes it, with its unit ('3.0 ± 0.6 %', '8.0 ± 0.0 of 8')."""
    metric = group.metric(key)
    text = summaries.cell(_summary(row, key), metric, decimals=table.decimals.get(key))
    if metric.percent and text not in (summaries.DASH, summaries.INF):
        text = text.replace(" (1 seed)", " % (1 seed)") if text.endswith(" (1 seed)") else text + " %"
    if capacity and group.capacity and key == group.keys[0]:
        cap = group.capacity(str(row["dataset"]))
        if cap:
            text = f"{text} of {cap}"
    return text


def _number(group: MetricGroup, table: Table, key: str, x: float) -> str:
    """A difference or spread of metric `key` in the units and decimals of its column."""
    metric = group.metric(key)
    text = summaries.number(x, metric, table.decimals.get(key))
    return f"{text} percentage points" if metric.percent else text


def _all_zero(rows: pd.DataFrame, key: str) -> bool:
    """Every seed of every row is 0: mean 0 and no spread (the metrics with a zero meaning are >= 0)."""
    return bool(((rows[f"{key}_mean"] == 0) & (rows[f"{key}_std"].fillna(0) == 0)).all())


def _scored_rows(table: Table, dataset: str) -> pd.DataFrame:
    frame = table.frame
    return frame[(frame["dataset"].astype(str) == dataset) & (frame["seeds"] > 0)].reset_index(drop=True)


def _zero_metrics(group: MetricGroup, rows: pd.DataFrame):
    return [m for m in group.metrics if m.zero_means and m.better == "max" and _all_zero(rows, m.key)]


def _headline(group: MetricGroup, table: Table, row: pd.Series) -> str:
    """'PacGAN2 covers 8.0 ± 0.0 of 8 modes with 91.3 ± 1.5 % high-quality samples' or 'X has the best F1 (...)'."""
    primary = group.metric(group.primary)
    if group.name in ("modes_2d", "stacked_mnist") and group.primary == group.keys[0]:
        text = f"{row['model']} covers {_value(group, table, row, group.primary)} modes"
        if group.name == "modes_2d":
            text += f" with {_value(group, table, row, 'high_quality_fraction')} high-quality samples"
        return text
    return f"{row['model']} has the best {primary.label} ({_value(group, table, row, group.primary)})"


def _noise(group: MetricGroup, table: Table, best: pd.Series, second: pd.Series) -> str:
    a, b = _summary(best, group.primary), _summary(second, group.primary)
    pooled = summaries.pooled_std(a, b)
    gap = abs(a.mean - b.mean)
    if gap == 0:
        return f"tied with {second['model']} on {group.metric(group.primary).label}"
    if pooled != pooled:
        return "one seed each, so the gap has no seed-noise estimate"
    lead = f"the gap to {second['model']}, {_number(group, table, group.primary, gap)},"
    if gap <= pooled:
        return f"{lead} is within seed noise: pooled std {_number(group, table, group.primary, pooled)}"
    return f"{lead} is {gap / pooled:.1f} pooled std"


def dataset_clause(group: MetricGroup, table: Table, dataset: str) -> str:
    """'on ring8, PacGAN2 covers ... vs ... for NS GAN (3 seeds each; the gap to NS GAN, ..., is ...)'."""
    rows = _scored_rows(table, dataset)
    primary = group.metric(group.primary)
    if rows.empty:
        return f"on {dataset}, no trial finished with a {primary.label}"
    zero = _zero_metrics(group, rows)
    if group.primary in [m.key for m in zero]:
        return (f"on {dataset}, every model scores {primary.label} = 0 ({_definition(zero[0].zero_means)}, in "
                f"all {int(rows['seeds'].sum())} scored trials)")
    best = rows.iloc[0]
    text = f"on {dataset}, {_headline(group, table, best)}"
    others = rows.iloc[1:]
    if others.empty:
        return text + f", the only model scored ({int(best['seeds'])} seed(s))"
    listed = others.iloc[:MAX_LISTED] if len(others) <= MAX_LISTED else others.iloc[:1]
    parts = [f"{_value(group, table, r, group.primary, capacity=False)} for {r['model']}"
             for _, r in listed.iterrows()]
    if len(others) > len(listed):
        rest = others.iloc[1:][f"{group.primary}_mean"].astype(float)
        decimals = table.decimals.get(group.primary)
        parts.append(f"{summaries.number(rest.min(), primary, decimals)}–"
                     f"{summaries.number(rest.max(), primary, decimals)} for the other {len(rest)} models")
    seeds = sorted({int(s) for s in rows["seeds"]})
    seed_text = f"{seeds[0]} seeds each" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]} seeds per model"
    return f"{text} vs {', '.join(parts)} ({seed_text}; {_noise(group, table, best, others.iloc[0])})"


def _names(pairs: List[Tuple[str, str]], several_datasets: bool) -> str:
    """'NS GAN', 'NS GAN and LSGAN', 'NS GAN on ring8, LSGAN on grid25 and ...' for (model, dataset) pairs."""
    names = list(dict.fromkeys(f"{m} on {d}" if several_datasets else m for m, d in pairs))
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def caveat_clause(group: MetricGroup, table: Table, datasets: Sequence[str]) -> str:
    """The group's caveat once for every scored row of `datasets` it flags ('' when it flags none).

    'all models' samples are still mostly off the modes (high-quality ≤ 12.9 % vs 98.9 % for real data)';
    the highest flagged mean is written with the decimals of its column.
    """
    caveat = group.caveat
    if caveat is None:
        return ""
    scored, flagged, highest = 0, [], float("-inf")
    for dataset in datasets:
        rows = _scored_rows(table, dataset)
        if rows.empty or group.primary in [m.key for m in _zero_metrics(group, rows)]:
            continue  # the clause already says every model scored 0
        scored += len(rows)
        for _, row in rows.iterrows():
            if row["note"] == caveat.note():
                flagged.append((str(row["model"]), dataset))
                highest = max(highest, float(row[f"{caveat.metric}_mean"]))
    if not flagged:
        return ""
    bound = summaries.number(highest, group.metric(caveat.metric), table.decimals.get(caveat.metric))
    unscored = (table.frame["seeds"] == 0).any()
    if len(flagged) == scored:
        who = "all scored models' samples are" if unscored else "all models' samples are"
    elif len(flagged) <= MAX_LISTED:
        who = f"the samples of {_names(flagged, len(datasets) > 1)} are"
    else:
        who = f"the samples of {len(flagged)} of {scored} scored models are"
    return f"{who} {caveat.clause(bound)}"


def unscored_clause(chosen: Dict[str, Tuple[MetricGroup, Table]]) -> str:
    """'PacGAN2 has no scored trial yet' for the models with a row but no scored trial ('' when none)."""
    missing = []
    for dataset, (_, table) in chosen.items():
        frame = table.frame
        rows = frame[frame["dataset"].astype(str) == dataset]
        if (rows["seeds"] > 0).any():  # else the dataset's clause already says that nothing was scored
            missing += [(str(m), dataset) for m in rows.loc[rows["seeds"] == 0, "model"]]
    if not missing:
        return ""
    models = list(dict.fromkeys(m for m, _ in missing))
    everywhere = all((m, d) in missing for m in models for d in chosen)
    names = _names(missing, several_datasets=not everywhere and len(chosen) > 1)
    plural = len(models) > 1 or (not everywhere and len(missing) > 1)
    return f"{names} {'have' if plural else 'has'} no scored trial yet"


def finding_sentence(tables: Sequence[Tuple[MetricGroup, Table]]) -> str:
    """One sentence over all datasets of the study, from the metric tables in their group order.

    Each dataset is described by the first table that scores it, or by the first table that lists it when none
    does (its clause then says that nothing was scored).
    """
    chosen = {}  # dataset → (group, table, has scores), in the order of first appearance
    for group, table in tables:
        frame = table.frame
        for dataset in frame["dataset"].astype(str).unique():
            has_scores = bool((frame.loc[frame["dataset"] == dataset, "seeds"] > 0).any())
            if dataset not in chosen or (has_scores and not chosen[dataset][2]):
                chosen[dataset] = (group, table, has_scores)
    if not chosen:
        return "No trial reported a metric."
    order = {id(g): i for i, (g, _) in enumerate(tables)}
    ordered = dict(sorted(((d, (g, t)) for d, (g, t, _) in chosen.items()), key=lambda i: (order[id(i[1][0])], i[0])))
    clauses = [dataset_clause(group, table, dataset) for dataset, (group, table) in ordered.items()]
    tails = []
    for group, table in tables:
        datasets = [d for d, (g, _) in ordered.items() if g is group]
        if datasets:
            tails.append(caveat_clause(group, table, datasets))
    tails.append(unscored_clause(ordered))
    tail = ", and ".join(t for t in tails if t)
    sentence = "; ".join(clauses + ([tail] if tail else []))
    return sentence[0].upper() + sentence[1:] + "."
