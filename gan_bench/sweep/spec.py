"""Sweep files: parse, check and expand a gin sweep file into trials with stable ids.

A sweep file is a gin file (format in sweeps/README.md): `include` lines name base gin files, bindings of
the `sweep` configurable describe the search space, and any other binding (`trial.train_steps = 300`) is a
fixed setting passed to every trial. Nothing here imports JAX; `validate_trials` does (via `parse_config`).

Each trial's id is the first 12 hex digits of SHA-256 over the canonical JSON of its sweep-chosen bindings
(seed included) and the resolved base config text (`gin.config_str()` after parsing the includes and fixed
bindings: comments and formatting of base files do not change ids, their values do).
"""
import dataclasses
import hashlib
import json
import logging
import os
import re
import tokenize
from typing import Any, Dict, List, Optional, Tuple

import gin
from gin import config_parser

from gan_bench.checks import is_whole
from gan_bench.sweep import space

log = logging.getLogger("gan_bench")
SEED_KEY = "trial.seed"
SWEEP_PARAMS = ("grid", "random", "conditional", "num_random", "seeds", "seed_list", "random_seed")
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass(frozen=True)
class Trial:
    """One expanded trial. `gin_bindings` = fixed bindings of the sweep file, then the chosen ones."""

    id: str
    sweep: str
    gin_files: Tuple[str, ...]
    bindings: Dict[str, Any]
    seed: int
    gin_bindings: Tuple[str, ...]

    def record(self) -> dict:
        """The trial.json record (docs/ARCHITECTURE.md "Sweep trial record", plus the exact gin_bindings).

        Files inside the repository are recorded relative to its root, so a committed results folder names no
        machine's paths; the executors run trials from the absolute paths of this object, not from the record.
        """
        return {"id": self.id, "sweep": record_path(self.sweep),
                "gin_files": [record_path(f) for f in self.gin_files],
                "bindings": self.bindings, "seed": self.seed, "gin_bindings": list(self.gin_bindings)}


def record_path(path: str) -> str:
    """`path` relative to the repository root when it lies inside it, else unchanged."""
    relative = os.path.relpath(path, _REPO_ROOT)
    return path if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


@dataclasses.dataclass
class SweepSpec:
    """A parsed sweep file: where each `sweep.*` parameter was bound (line numbers) and its value."""

    path: str
    gin_files: List[str]
    fixed_bindings: List[str]
    params: Dict[str, Any]
    lines: Dict[str, int]


class _Literal:
    """A gin reference or macro inside a value, kept printable as gin text (`@name()`, `%NAME`)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


class _Delegate(config_parser.ParserDelegate):
    def configurable_reference(self, scoped_configurable_name, evaluate):
        return _Literal(f"@{scoped_configurable_name}{'()' if evaluate else ''}")

    def macro(self, macro_name):
        return _Literal(f"%{macro_name}")


def _error(path, line, message) -> ValueError:
    return ValueError(f"sweep file {path}{f', line {line}' if line else ''}: {message}")


def _resolve_include(path: str, name: str) -> Optional[str]:
    """Include paths as gin reads them (cwd), else beside the sweep file, else under the repository root."""
    candidates = [name] if os.path.isabs(name) else [
        name, os.path.join(os.path.dirname(path), name), os.path.join(_REPO_ROOT, name)]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None


def load_sweep(path: str) -> SweepSpec:
    """Parse `path` into a SweepSpec, checking includes, keys and the shape of every sweep parameter."""
    if not os.path.isfile(path):
        raise ValueError(f"sweep file not found: {path}")
    path = os.path.abspath(path)
    spec = SweepSpec(path, [], [], {}, {})
    try:
        with open(path) as f:
            statements = list(config_parser.ConfigParser(f, _Delegate()))
    except SyntaxError as e:
        raise _error(path, e.lineno, f"gin syntax error: {e.msg}") from e
    except tokenize.TokenError as e:  # e.g. an unclosed bracket: args = (message, (line, column))
        raise _error(path, e.args[1][0], f"gin syntax error: {e.args[0]}") from e
    for st in statements:
        line = st.location.line_num
        if isinstance(st, config_parser.IncludeStatement):
            found = _resolve_include(path, st.filename)
            if found is None:
                raise _error(path, line, f"include file not found: {st.filename!r}")
            spec.gin_files.append(found)
        elif isinstance(st, config_parser.ImportStatement):
            raise _error(path, line, "import statements belong in a base gin file, not in a sweep file")
        elif isinstance(st, config_parser.BindingStatement) and st.selector == "sweep" and not st.scope:
            if st.arg_name not in SWEEP_PARAMS:
                raise _error(path, line, f"unknown sweep parameter 'sweep.{st.arg_name}'; known: "
                                         f"{', '.join('sweep.' + p for p in SWEEP_PARAMS)}")
            spec.params[st.arg_name], spec.lines[st.arg_name] = st.value, line
        elif isinstance(st, config_parser.BindingStatement):
            key = f"{st.scope + '/' if st.scope else ''}{st.selector}.{st.arg_name}"
            _check_key(path, line, key)
            spec.fixed_bindings.append(f"{key} = {st.value!r}")
    _check_params(spec)
    return spec


def _check_key(path, line, key, searched=False):
    """A binding key must be 'configurable.param'; `trial.*` keys must be TrialConfig fields."""
    from gan_bench.config import TrialConfig  # pylint: disable=import-outside-toplevel

    if not isinstance(key, str) or "." not in key:
        raise _error(path, line, f"key {key!r} is not a gin binding key 'configurable.parameter'")
    scope, param = key.rsplit(".", 1)
    if scope in ("trial", "sweep") or scope.endswith("/trial"):
        fields = [f.name for f in dataclasses.fields(TrialConfig)]
        if scope == "sweep" or param not in fields:
            raise _error(path, line, f"unknown key {key!r}: not a field of TrialConfig (known: {', '.join(fields)})")
    if searched and key == SEED_KEY:
        raise _error(path, line, f"{key!r} cannot be searched; use sweep.seeds or sweep.seed_list")


def _check_space_keys(spec, name, keys):
    for key in keys:
        _check_key(spec.path, spec.lines[name], key, searched=True)


def _check_values_are_literals(spec, name, value):
    if isinstance(value, _Literal):
        raise _error(spec.path, spec.lines[name], f"sweep.{name}: values must be literals, not {value!r}")
    if isinstance(value, dict):
        for v in value.values():
            _check_values_are_literals(spec, name, v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_values_are_literals(spec, name, v)


def _check_params(spec: SweepSpec) -> None:
    p, err = spec.params, lambda name, msg: _error(spec.path, spec.lines.get(name), msg)
    if not p:
        raise _error(spec.path, None, "no sweep.* bindings: expected sweep.grid, sweep.random or sweep.seeds")
    for name, value in p.items():
        _check_values_are_literals(spec, name, value)
    if "grid" in p:
        problem = space.check_grid(p["grid"])
        if problem:
            raise err("grid", problem)
        _check_space_keys(spec, "grid", {k for point in ([p["grid"]] if isinstance(p["grid"], dict) else p["grid"])
                                         for k in point})
    if not isinstance(p.get("random", {}), dict):
        raise err("random", "sweep.random must be a dict {key: distribution}")
    conditional = p.get("conditional", [])
    if not isinstance(conditional, (list, tuple)) or not all(
            isinstance(c, (list, tuple)) and len(c) == 2 and isinstance(c[1], dict) for c in conditional):
        raise err("conditional", "sweep.conditional must be a list of ({condition}, {key: distribution}) pairs")
    spaces = [("random", p.get("random", {}))] + [("conditional", c[1]) for c in conditional]
    for name, entries in spaces:
        _check_space_keys(spec, name, space.flat_keys(entries))
        for key, dist in entries.items():
            problem = space.check_distribution(dist)
            if problem:
                raise err(name, f"sweep.{name} key {key!r}: {problem}")
    drawn = set(space.flat_keys(p.get("random", {}))) | set(space.flat_keys(k for _, s in conditional for k in s))
    searched = set(grid_keys(spec)) | drawn
    for condition, _ in conditional:
        problem = space.check_condition(condition)
        if problem:
            raise err("conditional", problem)
        for key in condition:
            if key not in searched:
                raise err("conditional", f"condition key {key!r} is not searched by this sweep")
    overlap = set(grid_keys(spec)) & drawn
    if overlap:
        raise err("random", f"keys both in the grid and the random search: {sorted(overlap)}")
    has_random = bool(p.get("random")) or bool(conditional)
    num_random = p.get("num_random")
    if has_random and not (isinstance(num_random, int) and num_random >= 1):
        raise err("num_random" if "num_random" in p else "random",
                  f"sweep.num_random must be an integer >= 1 when a random search is given, got {num_random!r}")
    if num_random is not None and not has_random:
        raise err("num_random", "sweep.num_random is set but there is no sweep.random / sweep.conditional")
    if "seeds" in p and "seed_list" in p:
        raise err("seed_list", "give either sweep.seeds (a count) or sweep.seed_list, not both")
    if "seeds" in p and not (isinstance(p["seeds"], int) and p["seeds"] >= 1):
        raise err("seeds", f"sweep.seeds must be an integer >= 1, got {p['seeds']!r}")
    seed_list = p.get("seed_list", [0])
    if not isinstance(seed_list, (list, tuple)) or not seed_list or not all(
            is_whole(s) for s in seed_list) or len(set(seed_list)) < len(seed_list):
        raise err("seed_list", f"sweep.seed_list must be a non-empty list of distinct integers, got {seed_list!r}")
    if not isinstance(p.get("random_seed", 0), int):
        raise err("random_seed", f"sweep.random_seed must be an integer, got {p['random_seed']!r}")


def grid_keys(spec: SweepSpec) -> List[str]:
    grid = spec.params.get("grid", {})
    return [k for sub in ([grid] if isinstance(grid, dict) else grid) for k in sub]


def seeds_of(spec: SweepSpec) -> List[int]:
    if "seed_list" in spec.params:
        return list(spec.params["seed_list"])
    return list(range(spec.params.get("seeds", 1)))


def base_config_text(spec: SweepSpec) -> str:
    """The resolved base configuration (includes + fixed bindings) as gin prints it."""
    from gan_bench.config import parse_config  # pylint: disable=import-outside-toplevel

    try:
        parse_config(spec.gin_files, spec.fixed_bindings)
    except ValueError as e:
        raise _error(spec.path, None, f"its base configuration (includes and fixed bindings) is invalid: {e}") from e
    return gin.config_str()


def trial_id(base_text: str, bindings: Dict[str, Any]) -> str:
    text = json.dumps({"base": base_text, "bindings": bindings}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def expand(spec: SweepSpec, max_trials: Optional[int] = None) -> List[Trial]:
    """Trials in order grid point → random sample → seed; repeated points (same id) are kept once."""
    base_text = base_config_text(spec)
    p = spec.params
    points = space.grid_points(p["grid"]) if "grid" in p else [{}]
    num_random = p.get("num_random", 1)
    conditional = [tuple(c) for c in p.get("conditional", [])]
    trials, seen = [], set()
    for point in points:
        for index in range(num_random):
            drawn = space.random_point(p.get("random", {}), conditional, point, p.get("random_seed", 0), index)
            for seed in seeds_of(spec):
                bindings = {**point, **drawn, SEED_KEY: seed}
                tid = trial_id(base_text, bindings)
                if tid in seen:
                    continue
                seen.add(tid)
                gin_bindings = tuple(spec.fixed_bindings) + tuple(f"{k} = {v!r}" for k, v in bindings.items())
                trials.append(Trial(tid, spec.path, tuple(spec.gin_files), bindings, seed, gin_bindings))
                if max_trials is not None and len(trials) >= max_trials:
                    return trials
    return trials


class SweepError(ValueError):
    """Every problem found in one sweep file, one self-contained line each (`lines`), reported together."""

    def __init__(self, lines: List[str]):
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def _line_of(spec: SweepSpec, key: Optional[str]) -> str:
    """The line(s) of the sweep parameter that searches `key`; all search lines when it is not known."""
    names = [n for n in ("grid", "random", "conditional") if n in spec.lines]
    if key is not None:
        conditional = spec.params.get("conditional", [])
        owners = {"grid": grid_keys(spec), "random": space.flat_keys(spec.params.get("random", {})),
                  "conditional": space.flat_keys(k for _, entries in conditional for k in entries)}
        names = [n for n in names if key in owners[n]] or names
    return ", ".join(str(spec.lines[n]) for n in names)


def _is_trial_key(key: str) -> bool:
    scope = key.rsplit(".", 1)[0]
    return scope == "trial" or scope.endswith("/trial")


def _value_problem(spec: SweepSpec, key: str, value) -> Optional[str]:
    """What is wrong with binding `key = value` on its own: the field's checks for `trial.*` keys (registered
    names, choices, types, ranges), else whether gin accepts the binding over the base configuration."""
    from gan_bench.config import check_field, one_line, parse_config  # pylint: disable=import-outside-toplevel

    if _is_trial_key(key):
        return check_field(key.rsplit(".", 1)[1], value)
    try:
        parse_config(spec.gin_files, spec.fixed_bindings + [f"{key} = {value!r}"])
    except ValueError as e:
        return one_line(e)
    return None


def value_problems(spec: SweepSpec, trials: List[Trial]) -> List[str]:
    """One line per bad searchable value: every `('choice', [...])` value of the random and conditional
    spaces (a sample of num_random draws may miss some), and grid values that no expanded trial uses
    (cut off by max_trials). Numeric distributions are checked through the values the trials drew."""
    lines = []
    conditional = spec.params.get("conditional", [])
    spaces = [("random", spec.params.get("random", {}))] + [("conditional", c[1]) for c in conditional]
    for name, entries in spaces:
        for keys, dist in entries.items():
            if dist[0] != "choice":
                continue
            for key in space.flat_keys([keys]):
                # gin checks a non-trial binding's key, not its value: one value tells for all.
                for value in dist[1] if _is_trial_key(key) else dist[1][:1]:
                    problem = _value_problem(spec, key, value)
                    if problem:
                        lines.append(str(_error(spec.path, spec.lines[name],
                                                f"sweep.{name} key {key!r}, choice {value!r}: {problem}")))
    used = {(k, json.dumps(v, sort_keys=True, default=repr)) for t in trials for k, v in t.bindings.items()}
    grid = spec.params.get("grid", {})
    for sub in [grid] if isinstance(grid, dict) else grid:
        for key, values in sub.items():
            for value in values:
                if (key, json.dumps(value, sort_keys=True, default=repr)) not in used:
                    problem = _value_problem(spec, key, value)
                    if problem:
                        lines.append(str(_error(spec.path, spec.lines["grid"],
                                                f"sweep.grid key {key!r}, value {value!r}: {problem}")))
    return list(dict.fromkeys(lines))


def validate_trials(spec: SweepSpec, trials: List[Trial]) -> None:
    """Check every searchable value (`value_problems`) and parse and check every trial's configuration with
    `parse_config`, as the trial itself will (registered names, choices, ranges; nothing is built).

    Raises SweepError listing every problem, one line each naming the sweep file, the trial, the key, the
    bad value and the known values. Logs a warning for each gin key that no trial reads (`unread_bindings`):
    a key that some trials of a grid read and others do not is the grid at work; one that none reads is a slip.
    """
    from gan_bench.config import one_line, parse_config, unread_bindings  # pylint: disable=import-outside-toplevel

    lines = value_problems(spec, trials)
    unread_by_all: Optional[Dict[str, str]] = None
    for t in trials:
        try:
            unread = unread_bindings(parse_config(t.gin_files, t.gin_bindings))
            unread_by_all = unread if unread_by_all is None else {
                k: why for k, why in unread_by_all.items() if k in unread}
            continue
        except ValueError as e:
            problems = [one_line(e)]
        if problems[0].startswith(("bad gin binding", "cannot parse gin file")):
            # gin stopped at that binding: the trial's own values may be wrong too; say so on the same line.
            problems += [p for p in (_value_problem(spec, k, v) for k, v in t.bindings.items() if _is_trial_key(k)) if p]
        key = re.match(r"(?:trial\.\w+|bad gin binding '([^ =]+))", problems[0])
        key = key and (key.group(1) or key.group(0))
        lines.append(str(_error(spec.path, _line_of(spec, key),
                                f"trial {t.id} with bindings {json.dumps(t.bindings)}: {'; '.join(problems)}")))
    if lines:
        raise SweepError(lines)
    for key, why in (unread_by_all or {}).items():
        log.warning("%s: gin key %s is bound but none of the %d trials reads it (%s in the first trial)",
                    spec.path, key, len(trials), why)


def expand_sweep(path: str, max_trials: Optional[int] = None, validate: bool = True) -> List[Trial]:
    """load_sweep + expand (+ validate_trials): the trials a sweep file describes."""
    spec = load_sweep(path)
    trials = expand(spec, max_trials)
    if validate:
        validate_trials(spec, trials)
    return trials
