"""Protocols of the Inception-based scores in report tables: one protocol per column and dataset, stated.

FID, IS, KID, PRD and PRDC values are comparable only when they were computed the same way
(`gan_bench.metrics.protocol`: network and weights, resize, precision, the real images and their number, the
number of generated images, the weights of G). load.py keeps the record of each trial's final and best value
(`<which>_<metric>_protocol`). The rows of one dataset are ranked against each other, so a metric column holds,
per dataset, scores of one protocol only; datasets differ in their real images by definition, and the table
says what each one used. Values without a record (results written before records were kept) are a group of
their own, "protocol not recorded", never put beside recorded ones either.

  protocol_metrics(members, group, which)   the group's metrics that carry records
  conflicts / refusal                       the differing fields of each column that mixes protocols
  split_by_protocol(members, group, which)  trials → parts with one protocol per column and dataset
  caption, column_notes                     what a table states about how its scores were measured
  published_note(trials, which)             an FID at other sample sizes than a preset's published protocol
"""
import collections
import json
import math
import numbers
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from gan_bench.metrics import protocol
from gan_bench.metrics.fid_metric import published_mismatch
from gan_bench.report.metric_groups import MetricGroup

SCORED_STATES = ("done", "diverged")  # the trials whose values enter a table (tables.SCORED_STATES)
NOT_RECORDED = "protocol not recorded"
NOT_RECORDED_MEANING = ("results written before protocol records were kept: network, resize and sample sizes "
                        "unknown")
FIELD_LABELS = {"features": "features", "network": "network", "weights_sha256": "network weights",
                "resize": "resize", "precision": "precision", "real_dataset": "reference dataset",
                "real_split": "reference split", "real_count": "real images", "real_sha256": "real content",
                "fake_count": "generated images", "generator_weights": "G weights",
                "truncation": "truncation threshold"}
# The order a description reads in: how the features were made, then the generated side, then the real side.
DISPLAY_ORDER = ("features", "network", "weights_sha256", "resize", "precision", "fake_count", "generator_weights",
                 "truncation", "real_count", "real_split", "real_dataset", "real_sha256")
SHORT_HASH = 16  # hex digits of the network weights' SHA-256 shown (as in protocol.protocol_id)
PUBLISHED_KEYS = ("fid.published_num_samples", "fid.published_num_real")  # gin keys a preset may set
MIX_HINT = ("pass --mix_protocols to write one table per protocol, or report the folders separately")


def _values(df: pd.DataFrame, key: str, which: str) -> pd.Series:
    col = f"{which}_{key}"
    if col not in df.columns:
        return pd.Series(math.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[col], errors="coerce").astype(float)


def _record(text) -> Optional[dict]:
    """A `<which>_<metric>_protocol` cell (JSON text from load.py) as a record; None when absent."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        return None
    record = json.loads(text)
    return record if isinstance(record, dict) else None


def _records(trials: pd.DataFrame, key: str, which: str) -> pd.Series:
    col = f"{which}_{key}_protocol"
    if col not in trials.columns:
        return pd.Series([None] * len(trials), index=trials.index, dtype=object)
    return pd.Series([_record(v) for v in trials[col]], index=trials.index, dtype=object)  # map() makes None NaN


def _label(record: Optional[dict]) -> str:
    return NOT_RECORDED if record is None else protocol.protocol_id(record)


def protocol_metrics(members: pd.DataFrame, group: MetricGroup, which: str) -> List[str]:
    """The group's metric keys whose values carry protocol records (FID, IS, KID, PRD, PRDC and derived)."""
    return [k for k in group.keys
            if protocol.expects_record(k) or any(r is not None for r in _records(members, k, which))]


def _slots(members: pd.DataFrame, keys: List[str], which: str) -> Dict[object, Dict[str, str]]:
    """Per trial (index): metric key → protocol label, for each metric the trial has a value of."""
    slots: Dict[object, Dict[str, str]] = {i: {} for i in members.index}
    for key in keys:
        has_value = _values(members, key, which).notna()
        for i, record in _records(members, key, which).items():
            if has_value[i]:
                slots[i][key] = _label(record)
    return slots


def _scored(members: pd.DataFrame) -> pd.Series:
    return members["state"].isin(SCORED_STATES)


def _column_groups(members: pd.DataFrame, key: str, which: str, dataset: str) -> "collections.Counter":
    """Label → number of scored trials of `dataset` with a value of `key` under it."""
    part = members[_scored(members) & (members["dataset"].astype(str) == dataset)
                   & _values(members, key, which).notna()]
    return collections.Counter(_label(r) for r in _records(part, key, which))


def _shown(field: str, value) -> str:
    if value is None:
        return "none"
    if field == "weights_sha256":
        return repr(str(value)[:SHORT_HASH])
    return repr(value) if isinstance(value, str) else str(value)


def conflicts(members: pd.DataFrame, group: MetricGroup, which: str) -> List[str]:
    """One text per (metric, dataset) whose scored values come from more than one protocol, naming exactly the
    fields that differ and their values, most common protocol first; [] when every column has one."""
    keys = protocol_metrics(members, group, which)
    out = []
    for key in keys:
        for dataset in sorted(members["dataset"].astype(str).unique()):
            counts = _column_groups(members, key, which, dataset)
            if len(counts) < 2:
                continue
            ordered = sorted(counts, key=lambda label: (-counts[label], label))
            recorded = [_record_of_label(members, key, which, label) for label in ordered if label != NOT_RECORDED]
            pieces = []
            if len(recorded) > 1:
                for field in protocol.FIELDS:
                    shown = [r.get(field) for r in recorded]
                    if len({json.dumps(v) for v in shown}) > 1:
                        pieces.append(f"{FIELD_LABELS[field]} {' vs '.join(_shown(field, v) for v in shown)}")
            if NOT_RECORDED in counts:
                pieces.append(f"{NOT_RECORDED} for {counts[NOT_RECORDED]} of {sum(counts.values())} trials")
            sizes = " vs ".join(str(counts[label]) for label in ordered)
            out.append(f"{key} on {dataset}: {len(counts)} protocols in one column ({sizes} trials): "
                       f"{', '.join(pieces)}")
    return out


def _record_of_label(members: pd.DataFrame, key: str, which: str, label: str) -> Optional[dict]:
    for record in _records(members, key, which):
        if _label(record) == label:
            return record
    return None


def refusal(problems: List[str]) -> str:
    """The one-line error of a report whose columns would mix protocols."""
    return "; ".join(problems) + "; " + MIX_HINT


def check_one_protocol(members: pd.DataFrame, group: MetricGroup, which: str) -> None:
    """Raise ValueError (`refusal`) when a column of the group's table would mix protocols in one dataset."""
    problems = conflicts(members, group, which)
    if problems:
        raise ValueError(refusal(problems))


def split_by_protocol(members: pd.DataFrame, group: MetricGroup, which: str) -> List[pd.DataFrame]:
    """The trials of a group's table in parts whose columns each hold one protocol per dataset.

    A scored trial joins the first part whose protocols agree with its own on every metric it has a value of
    (per dataset), else starts a part; trials with more such metrics, then the more common protocols, are
    placed first, so part 1 holds each dataset's most common protocol. Trials that are not scored (pending,
    running, failed, or without any value) never start a part: they join the first part that agrees with
    their values, else part 1, and are counted there. One part when nothing mixes.
    """
    keys = protocol_metrics(members, group, which)
    if not keys or members.empty:
        return [members]
    slots = _slots(members, keys, which)
    dataset = members["dataset"].astype(str)
    scored = _scored(members)
    signature = {i: tuple(sorted(s.items())) for i, s in slots.items()}
    frequency = collections.Counter((dataset[i], signature[i]) for i in members.index if scored[i])
    leaders = sorted((i for i in members.index if scored[i] and slots[i]),
                     key=lambda i: (-len(slots[i]), -frequency[(dataset[i], signature[i])], str(signature[i]),
                                    str(members.at[i, "id"])))
    parts: List[dict] = []  # {"agreed": {(dataset, key): label}, "rows": [index]}

    def agrees(part, i):
        return all(part["agreed"].get((dataset[i], k), label) == label for k, label in slots[i].items())

    for i in leaders:
        part = next((p for p in parts if agrees(p, i)), None)
        if part is None:
            part = {"agreed": {}, "rows": []}
            parts.append(part)
        part["agreed"].update({(dataset[i], k): label for k, label in slots[i].items()})
        part["rows"].append(i)
    if not parts:
        return [members]
    placed = set(leaders)
    for i in members.index:
        if i not in placed:
            next((p for p in parts if agrees(p, i)), parts[0])["rows"].append(i)
    chosen = [set(p["rows"]) for p in parts]
    return [members.loc[[i for i in members.index if i in rows]] for rows in chosen]


def _phrases(record: dict, fields) -> List[str]:
    """The given fields of a record in words, null fields left out: 'resize clean', '10000 generated images'."""
    unit = "points" if record.get("features") == "raw" else "images"
    weights = record.get("weights_sha256")
    out = []
    for field in DISPLAY_ORDER:
        value = record.get(field)
        if field not in fields or value is None:
            continue
        if field == "features":
            out.append("raw coordinates as features" if value == "raw" else f"{value} features")
        elif field == "network":
            shown_weights = weights is not None and "weights_sha256" in fields
            out.append(f"network {value}" + (f" (weights {str(weights)[:SHORT_HASH]})" if shown_weights else ""))
        elif field == "weights_sha256":
            if record.get("network") is None or "network" not in fields:
                out.append(f"network weights {str(value)[:SHORT_HASH]}")
        elif field == "fake_count":
            out.append(f"{value} generated {unit}")
        elif field == "real_count":
            out.append(f"{value} real {unit}")
        else:
            out.append(f"{FIELD_LABELS[field]} {value}")
    return out


def describe_column(members: pd.DataFrame, key: str, which: str) -> str:
    """How the scored values of one metric column were measured, in words ('' when it has none).

    Fields shared by every dataset are written once, the others per dataset ('on mnist: ...').
    """
    per_dataset: Dict[str, Optional[dict]] = {}
    for dataset in sorted(members["dataset"].astype(str).unique()):
        counts = _column_groups(members, key, which, dataset)
        if counts:
            label = max(counts, key=lambda lab: (counts[lab], lab))
            per_dataset[dataset] = _record_of_label(members, key, which, label)
    if not per_dataset:
        return ""
    records = list(per_dataset.values())
    if all(r is None for r in records):
        return f"{NOT_RECORDED} ({NOT_RECORDED_MEANING})"
    if len({_label(r) for r in records}) == 1:
        return ", ".join(_phrases(records[0], DISPLAY_ORDER))
    common = [] if any(r is None for r in records) else [
        f for f in DISPLAY_ORDER if len({json.dumps(r.get(f)) for r in records}) == 1]
    varying = [f for f in DISPLAY_ORDER if f not in common]
    each = "; ".join(f"on {d}: " + (NOT_RECORDED if r is None else ", ".join(_phrases(r, varying)))
                     for d, r in per_dataset.items())
    head = ", ".join(_phrases(records[0], common))
    return f"{head}; {each}" if head else each


def column_notes(members: pd.DataFrame, group: MetricGroup, which: str) -> List[str]:
    """One note per distinct protocol among the table's columns: 'Protocol of FID and KID: ...'."""
    described: Dict[str, List[str]] = {}
    for key in protocol_metrics(members, group, which):
        text = describe_column(members, key, which)
        if text:
            described.setdefault(text, []).append(group.metric(key).label)
    return [f"Protocol of {' and '.join(labels)}: {text}." for text, labels in described.items()]


def caption(members: pd.DataFrame, group: MetricGroup, which: str) -> str:
    """The protocol of the table's ranking metric (or of its first metric with one), for the caption."""
    keys = protocol_metrics(members, group, which)
    for key in ([group.primary] if group.primary in keys else []) + keys:
        text = describe_column(members, key, which)
        if text:
            return f"{group.metric(key).label} protocol: {text}"
    return ""


def _declared(value) -> Optional[int]:
    """A published sample size read from a trial's config (numpy int, float from a column with gaps, None)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return None
    return int(value)


def published_note(trials: pd.DataFrame, which: str) -> str:
    """'FID from 5000 generated images where the preset's published protocol uses 50000 ...' for the scored
    trials whose FID was computed at other sample sizes than their config declares (`fid.published_num_samples`,
    `fid.published_num_real`); '' when all match or nothing is declared."""
    if not any(k in trials.columns for k in PUBLISHED_KEYS):
        return ""
    has_value = _values(trials, "fid", which).notna() & _scored(trials)
    notes: List[str] = []
    for i, record in _records(trials, "fid", which).items():
        declared = [_declared(trials.at[i, k]) if k in trials.columns else None for k in PUBLISHED_KEYS]
        if not has_value[i] or declared == [None, None]:
            continue
        if record is None:
            text = "FID sample sizes not recorded: cannot check them against the preset's published protocol"
        else:
            text = published_mismatch(record.get("real_count"), record.get("fake_count"), *declared)
        if text and text not in notes:
            notes.append(text)
    return "; ".join(notes)
