"""`report_main`: results folders → tables (markdown, CSV, LaTeX), figures (PNG) and an index.md, under `out/`.

Every metric found in the trials' metrics.jsonl is reported, in the groups of `metric_groups` (a metric beside
the metrics that qualify it); `metric` only chooses which metric of its group ranks the rows. index.md opens
with one sentence stating what the numbers support (`finding.finding_sentence`), shows the samples figure of a
2-D mixture study (`samples.plot_samples_2d`, the first figure), then lists every table and figure with its
caption, and every figure that was not drawn with the reason. Trials whose presets name a published source
also get that table's own layout beside the published values (`paper_tables`, `paper_<source>.md`). Every
file is written to a temporary name in `out/` and renamed into place, so an interrupted report leaves whole files only.

Inception-based scores (FID, IS, KID, PRD, PRDC) are tabled under one protocol per column and dataset
(`protocols`): trials measured under several are refused, before anything is written, with the differing
fields, unless `mix_protocols`, which writes one table (and one set of figures) per protocol, `<group>_protocol<i>`,
and says so in the captions and index.md. Each such table states its protocol in its caption and notes.
"""
import dataclasses
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import pandas as pd

from gan_bench.atomic import atomic_write_text
from gan_bench.report import figures, paper_tables, protocols, samples, tables
from gan_bench.report.finding import finding_sentence
from gan_bench.report.load import load_results
from gan_bench.report.metric_groups import TRAINING_LOG_KEYS, MetricGroup, groups_for
from gan_bench.report.writers import write_table

SAMPLES_FIGURE = "samples_2d.png"  # the study's first figure, shown in index.md itself


def _rank_metrics(metric: Union[None, str, Sequence[str]]) -> List[str]:
    if metric is None:
        return []
    names = metric.split(",") if isinstance(metric, str) else list(metric)
    return [m.strip() for m in names if m and m.strip()]


def metrics_found(df: pd.DataFrame, which: str) -> List[str]:
    """Metric keys with at least one value in some trial's metrics.jsonl."""
    prefix = f"{which}_"
    return sorted(c[len(prefix):] for c in df.columns
                  if c.startswith(prefix) and pd.to_numeric(df[c], errors="coerce").notna().any())


class _Index:
    """The entries of index.md, in the order they are written."""

    def __init__(self):
        self.written: Dict[str, str] = {}
        self.entries: List[Tuple[str, str]] = []
        self.skipped: List[str] = []
        self.lead_figure = ""  # a figure shown in index.md under the opening sentence, when it was drawn
        self.protocol_splits: List[str] = []  # one line per group tabled under several protocols

    def table(self, out: str, stem: str, table: tables.Table, caption: str):
        for ext, path in write_table(table.frame, out, stem, caption, table.shown, table.notes,
                                     table.headers).items():
            self.written[f"{stem}.{ext}"] = path
        self.entries.append((stem, caption))

    def figure(self, name: str, result: figures.Plot, caption: str):
        path, reason = result
        if path is None:
            self.skipped.append(f"{name}: not drawn ({reason})")
        else:
            self.written[name] = path
            self.entries.append((name, caption))


def _protocol_parts(df, groups: List[MetricGroup], which: str, mix_protocols: bool):
    """[(group, its trials in parts of one protocol each)]; ValueError naming every mixed column when
    `mix_protocols` is False and some group needs more than one part."""
    plans, problems = [], []
    for group in groups:
        members = tables.in_group(df, group, which)
        parts = protocols.split_by_protocol(members, group, which)
        if len(parts) > 1 and not mix_protocols:
            problems += protocols.conflicts(members, group, which)
        plans.append((group, parts))
    if problems:
        raise ValueError(protocols.refusal(problems))
    return plans


def _per_protocol(group: MetricGroup, parts) -> List[Tuple[MetricGroup, object, str]]:
    """(group named after its table, trials, caption suffix) per part: the group itself for one part, else
    `<name>_protocol<i>` with ', protocol i of n' in its captions."""
    if len(parts) == 1:
        return [(group, parts[0], "")]
    return [(dataclasses.replace(group, name=f"{group.name}_protocol{i}"), part, f", protocol {i} of {len(parts)}")
            for i, part in enumerate(parts, 1)]


def report_main(dirs: Sequence[str], out: str, metric: Union[None, str, Sequence[str]] = None,
                which: str = "final", n_boot: int = 1000, mix_protocols: bool = False,
                at_step: Optional[int] = None) -> Dict[str, str]:
    """Write the study report of the trials under `dirs` into `out`; returns {file name: path}.

    metric: None (every metric found, each group ranked by its usual metric) or metric key(s) (a list or a
    comma-separated string) that rank the rows of their groups. which: 'final' (last evaluation) or 'best'
    (best evaluation of each trial, per metric). mix_protocols: one table per protocol when the trials' scores
    were measured under several (else refused). at_step: every trial as it stood at that step (its evaluations
    up to it; `load.load_results`). Raises ValueError, before writing anything, when no trial is
    found, when no trial reported a metric, when a `metric` is in no trial's metrics.jsonl, or when a column
    would mix protocols and `mix_protocols` is False.
    """
    tables.score_column("fid", which)  # checks `which` before any work
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    df = load_results(dirs, at_step)
    if df.empty:
        raise ValueError(f"no trial folders (with trial.json, config.gin, status.json or metrics.jsonl) "
                         f"found in {list(map(str, dirs))}")
    found = metrics_found(df, which)
    groups = groups_for(found, _rank_metrics(metric))
    if not groups:
        raise ValueError(f"no trial under {list(map(str, dirs))} reported a metric "
                         f"(keys found: {[k for k in found if k in TRAINING_LOG_KEYS] or 'none'})")
    plans = _protocol_parts(df, groups, which, mix_protocols)
    os.makedirs(out, exist_ok=True)
    index = _Index()
    metric_tables = []  # (group named as its table, table, its trials, caption suffix)
    for group, parts in plans:
        tabled = _per_protocol(group, parts)
        if len(tabled) > 1:
            index.protocol_splits.append(
                f"{group.title}: {len(tabled)} protocols, one table each "
                f"({', '.join(f'{g.name}.md' for g, _, _ in tabled)})")
        for named, part, suffix in tabled:
            table = tables.metric_table(part, named, which)
            metric_tables.append((named, table, part, suffix))
            caption = (f"{group.title}{suffix}; rows ranked by {group.metric(group.primary).label} "
                       f"({which} evaluation)")
            index.table(out, named.name, table, f"{caption}; {table.protocol}" if table.protocol else caption)
    index.table(out, "failures", tables.failure_table(df), "Trials per dataset, model and state")
    for stem, table, caption in paper_tables.paper_tables(df, which):  # presets that name a published table
        index.table(out, stem, table, caption)
    for group, table, _, _ in metric_tables:
        if group.name == "modes_2d":
            index.lead_figure = SAMPLES_FIGURE
            index.figure(SAMPLES_FIGURE, samples.plot_samples_2d(df, table, os.path.join(out, SAMPLES_FIGURE)),
                         "generated samples at the end of training, per dataset one trial per model (the first "
                         "seed of its best configuration), titled with its modes covered and high-quality %")
    for group, table, part, suffix in metric_tables:
        _group_figures(part, group, table, out, which, n_boot, index, suffix)
    _kurach_tables(df, plans[0], which, out, index)
    trials_csv = os.path.join(out, "trials.csv")
    atomic_write_text(trials_csv, df.to_csv(index=False))
    index.written["trials.csv"] = trials_csv
    index.entries.append(("trials.csv", "every trial, every column"))
    index.written["index.md"] = _write_index(out, df, dirs, [(g, t) for g, t, _, _ in metric_tables], index)
    return index.written


def _group_figures(df, group: MetricGroup, table: tables.Table, out: str, which: str, n_boot: int,
                   index: _Index, suffix: str = ""):
    order = list(table.frame["model"])
    label = group.metric(group.primary).label
    index.figure(f"{group.name}_scores.png",
                 figures.plot_scores(df, group, os.path.join(out, f"{group.name}_scores.png"), which, order),
                 f"{label} of every scored trial per model, with mean ± std{suffix}")
    index.figure(f"{group.name}_budget.png",
                 figures.plot_budget_curves(df, group, os.path.join(out, f"{group.name}_budget.png"), which,
                                            n_boot=n_boot, order=order),
                 f"expected best {label} of k random trials per model (Lucic et al. 2018, Fig. 4){suffix}")
    if group.scatter:
        y, x = (group.metric(k).label for k in reversed(group.scatter))
        index.figure(f"{group.name}_tradeoff.png",
                     figures.plot_tradeoff(df, group, os.path.join(out, f"{group.name}_tradeoff.png"), which,
                                           order),
                     f"{y} vs {x}, one point per trial{suffix}")


def _kurach_tables(df, plan, which: str, out: str, index: _Index):
    """Kurach et al. grids (model × D normalization) for the first group, only when normalization varies; one
    pair per protocol part of that group (`kurach_<agg>_protocol<i>`), the protocol stated in the caption."""
    varies = "d_norm" in df.columns and (df.groupby("dataset")["d_norm"].nunique() > 1).any()
    if not varies:
        index.skipped.append("Kurach et al. model × D-normalization tables: not written (one D normalization "
                             "per dataset)")
        return
    group, parts = plan
    label = group.metric(group.primary).label
    for i, part in enumerate(parts, 1):
        tail = "" if len(parts) == 1 else f"_protocol{i}"
        stated = protocols.caption(part, group, which)
        for agg in ("best", "median"):
            frame = tables.kurach_table(part, group.primary, which, agg)
            caption = (f"{agg} {which} {label} over all scored trials, per model × D normalization "
                       f"(Kurach et al. 2019); blank: never trained")
            if len(parts) > 1:
                caption += f"; protocol {i} of {len(parts)}"
            index.table(out, f"kurach_{agg}{tail}", tables.Table(frame, list(frame.columns), []),
                        f"{caption}; {stated}" if stated else caption)


def _write_index(out: str, df, dirs, metric_tables, index: _Index) -> str:
    counts = df["state"].value_counts()
    lines = ["# GAN study report", "", finding_sentence(metric_tables), "",
             f"{len(df)} trials from {', '.join(map(str, dirs))} "
             f"({', '.join(f'{n} {s}' for s, n in counts.items())}).", ""]
    if "at_step" in df:
        lines += [f"Every trial as it stood at step {int(df['at_step'].iloc[0]):,} (--at_step): only its evaluations "
                  f"at or before that step count, in every table and figure.", ""]
    if index.protocol_splits:
        lines += ["Scores measured under several protocols (--mix_protocols) are in separate tables and figures, "
                  "one per protocol, each stating its protocol in its caption; no table or figure puts two "
                  "protocols side by side, and the sentence above reads the first table that scores each "
                  "dataset:", ""] + [f"- {s}" for s in index.protocol_splits] + [""]
    captions = dict(index.entries)
    if index.lead_figure in index.written:
        lines += [f"![{captions[index.lead_figure]}]({index.lead_figure})", ""]
    lines += ["## Tables and figures", ""]
    for name, caption in index.entries:
        if name.endswith((".png", ".csv")):
            lines.append(f"- [{name}]({name}): {caption}")
        else:
            lines.append(f"- {caption}: [{name}.md]({name}.md), [{name}.csv]({name}.csv), [{name}.tex]({name}.tex)")
    if index.skipped:
        lines += ["", "## Not drawn", ""] + [f"- {s}" for s in index.skipped]
    path = os.path.join(out, "index.md")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
