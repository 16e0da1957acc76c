"""Search spaces of a sweep: grids (and unions of sub-grids), random distributions, conditions.

Pure functions on plain Python values, so that a sweep file's expansion is reproducible anywhere:
- a grid is `{key: [v1, v2, ...]}` (Cartesian product) or a list of such dicts (union of their products);
- a distribution is `('uniform', lo, hi)`, `('log_uniform', lo, hi)` (log10 uniform on [log lo, log hi],
  as "10^U[-5,-2]" in Lucic et al. 2018), `('int_uniform', lo, hi)` (integers lo..hi inclusive) or
  `('choice', [v1, v2, ...])`;
- a random-search key may be a tuple of keys that share one draw (`('trial.g_lr', 'trial.d_lr')`);
- a condition is `{key: [allowed values]}` or `{key: ('not_in', [values])}`; all entries must hold.

Random draws are made per (key, sample index) from a generator seeded by a hash of the distribution's
text, the key, the index and the sweep's `random_seed`: the same file gives the same samples on any
machine, and adding a key, a grid axis or more samples leaves the existing draws unchanged.
"""
import hashlib
import itertools
import json
import math
from typing import Any, Dict, List, Sequence

import numpy as np

from gan_bench.checks import is_number

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")


def grid_points(grid) -> List[Dict[str, Any]]:
    """All points of a grid: the Cartesian product of each sub-grid, concatenated in order.

    `grid_points({'a': [1, 2], 'b': ['x', 'y', 'z']})` has 6 points; a list of sub-grids gives the sum
    of their sizes (duplicates are kept here; the sweep drops repeated trials by id).
    """
    subgrids = grid if isinstance(grid, list) else [grid]
    points = []
    for sub in subgrids:
        keys = list(sub)
        for values in itertools.product(*(sub[k] for k in keys)):
            points.append(dict(zip(keys, values)))
    return points


def check_grid(grid) -> str:
    """Return '' when `grid` is well formed, else what is wrong with it (a sentence)."""
    subgrids = grid if isinstance(grid, list) else [grid]
    if not isinstance(grid, (dict, list)) or not subgrids or (isinstance(grid, dict) and not grid):
        return "sweep.grid must be a non-empty dict {key: [values]} or a non-empty list of such dicts"
    for sub in subgrids:
        if not isinstance(sub, dict):
            return f"sweep.grid sub-grid {sub!r} is not a dict"
        for key, values in sub.items():
            if not isinstance(values, (list, tuple)) or not values:
                return f"sweep.grid key {key!r}: values must be a non-empty list, got {values!r}"
    return ""


def check_distribution(dist) -> str:
    """Return '' when `dist` is a valid distribution tuple, else what is wrong with it."""
    if not isinstance(dist, (tuple, list)) or not dist or not isinstance(dist[0], str):
        return f"expected a tuple like ('log_uniform', 1e-5, 1e-2) or ('choice', [...]), got {dist!r}"
    name = dist[0]
    if name not in DISTRIBUTIONS:
        return f"unknown distribution {name!r}; known: {', '.join(DISTRIBUTIONS)}"
    if name == "choice":
        if len(dist) != 2 or not isinstance(dist[1], (list, tuple)) or not dist[1]:
            return f"('choice', [values]) needs a non-empty list, got {dist!r}"
        return ""
    if len(dist) != 3 or not all(_is_number(x) for x in dist[1:]):
        return f"({name!r}, low, high) needs two numbers, got {dist!r}"
    low, high = dist[1], dist[2]
    if not low < high:
        return f"{name} bounds must satisfy low < high, got low={low!r}, high={high!r}"
    if name == "log_uniform" and low <= 0:
        return f"log_uniform bounds must be > 0, got low={low!r}"
    if name == "int_uniform" and not (float(low).is_integer() and float(high).is_integer()):
        return f"int_uniform bounds must be integers, got {dist!r}"
    return ""


def _is_number(x) -> bool:
    return is_number(x) and math.isfinite(x)


def stream_seed(random_seed: int, key: str, dist, index: int) -> int:
    """A 64-bit seed for the draw of `key` in sample `index`; depends on content only, never on time."""
    text = json.dumps([random_seed, key, list(dist) if isinstance(dist, tuple) else dist, index],
                      sort_keys=True, default=repr)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def sample(dist, random_seed: int, key: str, index: int):
    """One draw from `dist` (assumed valid), as a plain Python value."""
    rng = np.random.default_rng(stream_seed(random_seed, key, dist, index))
    name = dist[0]
    if name == "choice":
        return dist[1][int(rng.integers(len(dist[1])))]
    low, high = dist[1], dist[2]
    if name == "uniform":
        return float(rng.uniform(low, high))
    if name == "log_uniform":
        return float(10.0 ** rng.uniform(math.log10(low), math.log10(high)))
    return int(rng.integers(int(low), int(high), endpoint=True))


def check_condition(condition) -> str:
    """Return '' when `condition` is `{key: [values]}` / `{key: ('not_in', [values])}`, else the problem."""
    if not isinstance(condition, dict) or not condition:
        return f"a condition must be a non-empty dict {{key: [allowed values]}}, got {condition!r}"
    for key, allowed in condition.items():
        if isinstance(allowed, tuple) and len(allowed) == 2 and allowed[0] == "not_in":
            allowed = allowed[1]
        if not isinstance(allowed, (list, tuple)) or not allowed:
            return f"condition on {key!r} needs a non-empty list of values or ('not_in', [values])"
    return ""


def condition_holds(condition: Dict[str, Any], chosen: Dict[str, Any]) -> bool:
    """True when every key of `condition` is among `chosen` with an allowed value."""
    for key, allowed in condition.items():
        if key not in chosen:
            return False
        if isinstance(allowed, tuple) and len(allowed) == 2 and allowed[0] == "not_in":
            if chosen[key] in allowed[1]:
                return False
        elif chosen[key] not in allowed:
            return False
    return True


def random_point(random: Dict[str, Any], conditional: Sequence, chosen: Dict[str, Any], random_seed: int,
                 index: int) -> Dict[str, Any]:
    """Sample `index` of the random search, given the grid point `chosen`.

    Unconditioned keys are drawn first; then each `(condition, space)` of `conditional`, in order, draws
    its keys when its condition holds on everything chosen so far (a later entry overrides an earlier one).
    """
    point = {}
    for condition, entries in [({}, random)] + list(conditional):
        if condition_holds(condition, {**chosen, **point}):
            for key, dist in entries.items():
                value = sample(dist, random_seed, key, index)
                point.update({k: value for k in flat_keys([key])})
    return point


def flat_keys(keys) -> List[str]:
    """Keys of a space; a tuple key ('trial.g_lr', 'trial.d_lr') names several bindings sharing one draw."""
    return [k for key in keys for k in (key if isinstance(key, tuple) else (key,))]
