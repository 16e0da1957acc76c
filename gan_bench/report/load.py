"""Results folders → one pandas DataFrame, one row per trial.

A results folder holds trial folders `DIR/<trial_id>/` (docs/ARCHITECTURE.md): `trial.json` (the sweep's
record), `config.gin` (operative config), `status.json` (final state, read by its owner
`outputs.read_status`) and `metrics.jsonl` (one object per evaluation). Columns of the frame:

  results_dir, folder (the trial folder), id, seed, state, step, error, n_evals, sweep, config_id, config,
  model (the study-wide paper name of the trial's model, `naming.model_labels`),
  every TrialConfig field (default ← config.gin ← trial.json bindings), every other binding by its gin key,
  final_<metric> (value at the last evaluation that reports it), best_<metric> (min or max over evaluations,
  see `metric_groups.direction`), and for every value that has a protocol record (FID, IS, KID, PRD, PRDC:
  `gan_bench.metrics.protocol`) final_<metric>_protocol / best_<metric>_protocol: the record of the evaluation
  that gave that value, as JSON text, or None when that evaluation recorded none (older results).

A file that cannot be read or parsed gives a warning naming it and the trial is counted as `failed`; loading
never stops on one bad trial.

`at_step` (`gan-bench report --at_step N`): each trial as it stood at step N. Only its evaluations at steps
<= N count, `step` is the step of the last of them (None when there is none), and the column `at_step` holds
N. A study that evaluated every few thousand steps so reads as a series of tables, one per step, from one
results folder: how far a shortened run is from its end point, without training it again.
"""
import ast
import dataclasses
import hashlib
import json
import math
import os
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

from gan_bench import outputs
from gan_bench.checks import is_whole
from gan_bench.config import TrialConfig
from gan_bench.metrics import protocol
from gan_bench.report.metric_groups import direction
from gan_bench.report.naming import BOOKKEEPING, model_labels

TRIAL_FILES = ("trial.json", "config.gin", outputs.STATUS_FILE, "metrics.jsonl")

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "infinity": math.inf, "-inf": -math.inf,
               "-infinity": -math.inf}


def parse_gin_values(text: str) -> Dict[str, object]:
    """`key = value` statements of an operative gin config (`gin.config_str()`), values as Python literals.

    Statements may continue over lines (a trailing backslash or open brackets). Values that are not Python
    literals (gin references `@f`, macros `%X`) are kept as their text. Raises ValueError on a statement
    without '='.
    """
    values, pending, depth = {}, "", 0
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#") or line.startswith(("import ", "include "))):
            continue
        continued = line.endswith("\\")
        pending += " " + (line[:-1] if continued else line)
        depth += sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}")
        if continued or depth > 0:
            continue
        key, sep, value = pending.partition("=")
        if not sep:
            raise ValueError(f"gin statement without '=': {pending.strip()!r}")
        value = value.strip()
        try:
            values[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            values[key.strip()] = value
        pending, depth = "", 0
    if pending.strip():
        raise ValueError(f"unterminated gin statement: {pending.strip()!r}")
    return values


def _column(key: str) -> str:
    """`trial.loss` → `loss`; any other gin key keeps its full name."""
    return key[len("trial."):] if key.startswith("trial.") else key


def _cell(value):
    """Lists and dicts as canonical JSON text, so columns stay hashable for grouping."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _as_float(value) -> float:
    """A metric value as float: numbers, and the strings 'nan'/'inf' that JSON writers use; else NaN."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in _NON_FINITE:
        return _NON_FINITE[value.strip().lower()]
    return math.nan


def _is_metric_value(key: str, value) -> bool:
    """A metrics.jsonl entry that is a metric value: a number or 'nan'/'inf' text (not step, records, lists)."""
    if key == "step" or isinstance(value, (list, dict, bool)) or value is None:
        return False
    return not (isinstance(value, str) and value.strip().lower() not in _NON_FINITE)


def summarize_metrics(rows: Sequence[dict]) -> Dict[str, float]:
    """`final_<m>` (last evaluation reporting m) and `best_<m>` (by `direction(m)`, NaN ignored) per metric."""
    out: Dict[str, float] = {}
    series: Dict[str, List[float]] = {}
    for row in rows:
        for key, value in row.items():
            if _is_metric_value(key, value):
                series.setdefault(key, []).append(_as_float(value))
    for key, vals in series.items():
        out[f"final_{key}"] = vals[-1]
        finite = [v for v in vals if not math.isnan(v)]
        out[f"best_{key}"] = (min(finite) if direction(key) == "min" else max(finite)) if finite else math.nan
    return out


def _record_text(record) -> Optional[str]:
    """A protocol record as JSON text with every field in `protocol.FIELDS` order (hashable, parseable)."""
    if not isinstance(record, dict):
        return None
    return json.dumps({name: record.get(name) for name in protocol.FIELDS})


def summarize_protocols(rows: Sequence[dict]) -> Dict[str, Optional[str]]:
    """`final_<m>_protocol` / `best_<m>_protocol`: the protocol record of the evaluation whose value is
    `final_<m>` / `best_<m>` (the first such evaluation on ties), for every metric that has or expects one
    (`protocol.expects_record`); None where that evaluation has no record or no best value exists."""
    evaluations: Dict[str, List[Tuple[float, dict]]] = {}
    for row in rows:
        for key, value in row.items():
            if _is_metric_value(key, value):
                evaluations.setdefault(key, []).append((_as_float(value), row))
    out: Dict[str, Optional[str]] = {}
    for key, evals in evaluations.items():
        if not (protocol.expects_record(key) or any(protocol.protocol_of(r, key) for _, r in evals)):
            continue
        out[f"final_{key}_protocol"] = _record_text(protocol.protocol_of(evals[-1][1], key))
        finite = [(v, r) for v, r in evals if not math.isnan(v)]
        pick = min if direction(key) == "min" else max
        best = pick(finite, key=lambda item: item[0])[1] if finite else None
        out[f"best_{key}_protocol"] = _record_text(protocol.protocol_of(best, key)) if best is not None else None
    return out


def _read_json(path: str, problems: List[str]):
    try:
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        return data
    except (OSError, ValueError) as e:
        problems.append(f"{path}: {e}")
        return None


def _read_status(folder: str, problems: List[str]):
    """status.json through its owner, `outputs.read_status` (None when absent); a bad file is a problem."""
    try:
        return outputs.read_status(folder)
    except (OSError, ValueError) as e:
        problems.append(str(e))  # both name the file: read_status's ValueError and open's OSError
        return None


def _read_metrics(path: str, problems: List[str]) -> List[dict]:
    rows = []
    try:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                rows.append(row)
    except (OSError, ValueError) as e:
        problems.append(f"{path}: {e}")
    return rows


def check_at_step(at_step: Optional[int]) -> None:
    """ValueError unless `at_step` is None or a positive whole number of steps."""
    if at_step is not None and (not is_whole(at_step) or at_step < 1):
        raise ValueError(f"at_step={at_step!r}: expected a positive whole number of steps")


def load_trial(folder: str, at_step: Optional[int] = None) -> Tuple[dict, List[str]]:
    """One trial folder → (row dict, problems). Each problem names the file; any problem marks it failed.
    `at_step`: only the evaluations at steps <= at_step count (see the module docstring)."""
    problems: List[str] = []
    row = {f.name: f.default for f in dataclasses.fields(TrialConfig)}
    row["metrics"] = _cell(list(row["metrics"]))
    record = _read_json(os.path.join(folder, "trial.json"), problems) \
        if os.path.exists(os.path.join(folder, "trial.json")) else None
    gin_path = os.path.join(folder, "config.gin")
    if os.path.exists(gin_path):
        try:
            with open(gin_path) as f:
                row.update({_column(k): _cell(v) for k, v in parse_gin_values(f.read()).items()})
        except (OSError, ValueError) as e:
            problems.append(f"{gin_path}: {e}")
    bindings = record.get("bindings", {}) if record else {}
    if not isinstance(bindings, dict):
        problems.append(f"{os.path.join(folder, 'trial.json')}: 'bindings' is not an object")
        bindings = {}
    row.update({_column(k): _cell(v) for k, v in bindings.items()})
    row["id"] = str(record.get("id", os.path.basename(folder))) if record else os.path.basename(folder)
    if record and "seed" in record:
        row["seed"] = record["seed"]
    row["sweep"] = record.get("sweep") if record else None
    # A configuration = everything the sweep chose except the seed and bookkeeping (Lucic et al. 2018, Sec. 5:
    # seeds are restarts of one hyperparameter setting); without a sweep record, the operative config minus those.
    if record:
        key = {"sweep": row["sweep"], "gin_files": record.get("gin_files"), "dataset": row["dataset"],
               "bindings": {k: v for k, v in bindings.items() if _column(k) not in BOOKKEEPING}}
        label = ", ".join(f"{_column(k)}={v}" for k, v in sorted(key["bindings"].items()))
    else:
        key = {k: v for k, v in row.items() if k != "id" and k not in BOOKKEEPING}
        label = os.path.basename(folder)
    row["config_id"] = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    row["config"] = label or "(base)"
    status = _read_status(folder, problems)
    metrics_path = os.path.join(folder, "metrics.jsonl")
    evals = _read_metrics(metrics_path, problems) if os.path.exists(metrics_path) else []
    if at_step is not None:
        evals = [e for e in evals if _as_float(e.get("step")) <= at_step]
    row.update(summarize_metrics(evals))
    row.update(summarize_protocols(evals))
    row["n_evals"] = len(evals)
    if status is not None:
        row["state"], row["step"], row["error"] = status.get("state"), status.get("step"), status.get("error")
    else:
        row["state"] = "running" if (os.path.exists(gin_path) or evals) else "pending"
        row["step"] = evals[-1].get("step") if evals else None
        row["error"] = None
    if at_step is not None:
        row["step"], row["at_step"] = (evals[-1].get("step") if evals else None), at_step
    if problems:
        row["state"], row["error"] = "failed", "; ".join(problems)
    return row, problems


def trial_folders(results_dir: str) -> List[str]:
    """Sub-folders of `results_dir` that hold at least one trial file, sorted by name."""
    if not os.path.isdir(results_dir):
        raise ValueError(f"results folder not found: {results_dir}")
    names = sorted(os.listdir(results_dir))
    return [os.path.join(results_dir, n) for n in names
            if any(os.path.isfile(os.path.join(results_dir, n, f)) for f in TRIAL_FILES)]


def load_results(dirs: Sequence[str], at_step: Optional[int] = None) -> pd.DataFrame:
    """All trials of the results folders `dirs`, one row each (columns: see the module docstring), each as it
    stood at step `at_step` when that is given.

    Raises ValueError when a folder does not exist or `at_step` is not a positive whole number. Returns an
    empty frame when no trial is found.
    """
    check_at_step(at_step)
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    rows = []
    for results_dir in dirs:
        for folder in trial_folders(str(results_dir)):
            row, problems = load_trial(folder, at_step)
            for problem in problems:
                warnings.warn(f"trial {os.path.basename(folder)} counted as failed: {problem}", stacklevel=2)
            row["results_dir"], row["folder"] = str(results_dir), folder
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["model"] = model_labels(frame)
    first = ["results_dir", "id", "model", "dataset", "seed", "state", "step", "config", "config_id"]
    return frame[first + [c for c in frame.columns if c not in first]]
