"""A published table's own layout, for trials whose preset names its source (`published.PRESET_SOURCES`).

One row per dataset, one column group per variant of the source (PacGAN Table 1: GAN, PacGAN2, PacGAN3,
PacGAN4 = `trial.pack` 1..4), and in each group the number of seeds, then every metric of the source as
'mean ± std' over the seeds (sample std, ddof 1, as `summaries`) beside the published 'mean ± std'. The CSV
also has the numbers: `<variant>_<metric>_mean`, `_std`, `_paper_mean`, `_paper_std`, `<variant>_seeds`.
The notes say how the trials differ from the published protocol where the trials record it: the steps trained,
G's batch-norm mode at evaluation, and several configurations pooled in one cell.

A trial counts when its state is done or diverged and its value of the metric is finite or infinite (an
infinite reverse KL is shown as in the other tables); which evaluation is read is the report's `which`.
"""
import json
import math
import os
from typing import List, Optional, Tuple

import pandas as pd

from gan_bench.report import summaries
from gan_bench.report.published import SOURCES, Source, source_of
from gan_bench.report.tables import SCORED_STATES, Table, score_column


def trial_sources(df: pd.DataFrame) -> pd.Series:
    """Each trial's published source from the presets its trial.json records (None without one)."""
    def one(folder) -> Optional[str]:
        path = os.path.join(str(folder), "trial.json")
        try:
            with open(path) as f:
                return source_of(json.load(f).get("gin_files"))
        except (OSError, ValueError, AttributeError):
            return None  # load.py already counted an unreadable record as a failed trial
    return pd.Series([one(f) for f in df["folder"]], index=df.index, dtype=object)


def _published(value: Optional[Tuple[float, float]], decimals: int) -> str:
    return summaries.DASH if value is None else f"{value[0]:.{decimals}f} ± {value[1]:.{decimals}f}"


def _datasets(source: Source, trials: pd.DataFrame) -> List[str]:
    """The source's datasets in its order, then any other dataset the trials ran, sorted."""
    found = set(trials["dataset"])
    return [d for d in source.values if d in found] + sorted(found - set(source.values))


def paper_table(trials: pd.DataFrame, source_key: str, which: str = "final") -> Table:
    """The table of `source_key` over `trials` (all of whose presets name it); see the module docstring."""
    source = SOURCES[source_key]
    scored = trials[trials["state"].isin(SCORED_STATES)]
    rows, shown, headers = [], ["dataset"], {}
    for dataset in _datasets(source, trials):
        row = {"dataset": dataset}
        for pack, name in source.variants:
            mine = scored[(scored["dataset"] == dataset) & (pd.to_numeric(scored["pack"]) == pack)]
            published = source.values.get(dataset, {}).get(pack, {})
            seeds = 0
            for metric in source.metrics:
                col = score_column(metric.key, which)
                values = pd.to_numeric(mine[col], errors="coerce") if col in mine else pd.Series(dtype=float)
                values = values[values.notna()].to_numpy(float) * metric.scale
                summary = summaries.summarize(values)
                seeds = max(seeds, summary.n)
                row[f"{name}_{metric.key}"] = summaries.cell(summary, decimals=metric.decimals)
                row[f"{name}_{metric.key}_paper"] = _published(published.get(metric.key), metric.decimals)
                row[f"{name}_{metric.key}_mean"], row[f"{name}_{metric.key}_std"] = summary.mean, summary.std
                paper = published.get(metric.key, (math.nan, math.nan))
                row[f"{name}_{metric.key}_paper_mean"], row[f"{name}_{metric.key}_paper_std"] = paper
            row[f"{name}_seeds"] = seeds
        rows.append(row)
    for _, name in source.variants:
        shown.append(f"{name}_seeds")
        headers[f"{name}_seeds"] = f"{name} seeds"
        for metric in source.metrics:
            shown += [f"{name}_{metric.key}", f"{name}_{metric.key}_paper"]
            headers[f"{name}_{metric.key}"] = f"{name} {metric.label}"
            headers[f"{name}_{metric.key}_paper"] = f"{name} {metric.label} (paper)"
    frame = pd.DataFrame(rows)
    frame = frame[shown + [c for c in frame.columns if c not in shown]]
    return Table(frame, shown, _notes(source, trials, scored), headers=headers)


def _notes(source: Source, trials: pd.DataFrame, scored: pd.DataFrame) -> List[str]:
    notes = [f"Published: {source.citation}, mean ± std over {source.runs} runs ({source.protocol}). Ours: "
             f"mean ± sample std over the seeds shown; a blank published cell: the paper has no such run."]
    steps = pd.to_numeric(scored["step"], errors="coerce").dropna()
    if len(steps):
        low, high = int(steps.min()), int(steps.max())
        span = f"{low:,}" + (f" to {high:,}" if high != low else "")
        if "at_step" in scored:  # load_results(at_step=N): `step` is the step of the last evaluation kept
            unevaluated = len(scored) - len(steps)  # finished later, but with no evaluation by then
            notes.append(f"Our trials as they stood at step {int(scored['at_step'].iloc[0]):,} (--at_step): "
                         f"scores from step {span} ({len(steps)} scored of {len(trials)} trials"
                         + (f"; {unevaluated} finished without an evaluation by then" if unevaluated else "")
                         + ").")
        else:
            notes.append(f"Our trials ended at step {span} ({len(scored)} scored of {len(trials)} trials).")
    if "g_bn_eval" in scored:
        modes = sorted(set(scored["g_bn_eval"].dropna().astype(str)))
        if modes:
            notes.append(f"G's batch norm in our evaluations: {', '.join(modes)} (trial.g_bn_eval).")
    configs = scored.groupby(["dataset", "pack"])["config_id"].nunique()
    pooled = [f"{d} pack {p}" for (d, p), n in configs.items() if n > 1]
    if pooled:
        notes.append(f"Several configurations pooled in one cell: {', '.join(pooled)}.")
    return notes


def paper_tables(df: pd.DataFrame, which: str = "final") -> List[Tuple[str, Table, str]]:
    """(file stem, table, caption) for every published source some trial's preset names, by source key."""
    if df.empty or "folder" not in df:
        return []
    sources = trial_sources(df)
    out = []
    for key in sorted(k for k in set(sources.dropna())):
        table = paper_table(df[sources == key], key, which)
        caption = (f"{SOURCES[key].title}: ours ({which} evaluation) beside the published values, one column "
                   f"group per variant")
        out.append((f"paper_{key}", table, caption))
    return out

