"""`trial.conv_impl`: which convolution implementation (`conv_impl`) a run uses, decided once and written down.

- 'xla' or 'cpu_tuned': that implementation.
- 'auto' on CPU: 'cpu_tuned', without measuring. Its formulations were chosen op by op on XLA CPU, whose own
  convolutions have slow paths (BENCHMARKS.md), and a fixed choice keeps a CPU trial's numbers the same on
  every machine and under any load.
- 'auto' on other backends: both implementations run G's and D's forward and backward pass at the run's
  shapes (vmapped for a population) and the faster one is used. The decision is cached in the user cache
  folder (`<cache>/conv_impl/`), keyed by backend, device kind, jax version, device count, the networks'
  classes and variable shapes, the input shapes and the population size: a sweep of 10,000 trials measures
  once per distinct shape. When the nets have no convolution both lower to the same program: 'xla', untimed.
- A resumed trial keeps the choice recorded in its folder (`conv_impl.json`, written by `write_conv_record`), so
  it continues with the convolutions it started with, on any machine; the processes of a multi-host run all
  take process 0's decision.
"""
import dataclasses
import datetime
import hashlib
import json
import os
import statistics
import time
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_bench.atomic import atomic_write_json
from gan_bench.nets.conv_impl import CONV_IMPLS, IMPLEMENTATIONS, ConvImpl, conv_impl

RECORD_FILE = "conv_impl.json"
FIXED_AUTO = {"cpu": "cpu_tuned"}  # backends where 'auto' is decided without measuring (see the docstring)
TIMED_REPS = 5


@dataclasses.dataclass(frozen=True)
class ConvChoice:
    """The decision: `chosen` (one of IMPLEMENTATIONS) for `requested` (one of CONV_IMPLS), and why."""

    requested: str
    chosen: str
    population: bool  # the step is vmapped over members
    reason: str
    seconds: Optional[Dict[str, float]] = None  # measured G + D forward/backward time per implementation

    @property
    def impl(self) -> ConvImpl:
        """The implementation of the training step (a population's variant when `population`)."""
        return conv_impl(self.chosen, self.population)

    @property
    def member_impl(self) -> ConvImpl:
        """The implementation for one member's unbatched calls (sampling, evaluation)."""
        return conv_impl(self.chosen)

    def record(self) -> dict:
        return {"conv_impl": self.requested, "chosen": self.chosen, "impl": repr(self.impl), "reason": self.reason,
                "seconds": self.seconds, "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind}


def write_conv_record(workdir: str, choice: ConvChoice) -> None:
    """`workdir/conv_impl.json`, atomically: what the trial's convolutions are and why."""
    atomic_write_json(os.path.join(workdir, RECORD_FILE), choice.record())


def choose_conv_impl(requested: str, build: Callable[[ConvImpl], Tuple], g_input: Sequence[int],
                     d_input: Sequence[int], population: int = 0, workdirs: Sequence[str] = (),
                     fixed_auto: Mapping[str, str] = FIXED_AUTO, cache_dir: Optional[str] = None) -> ConvChoice:
    """Resolve `requested` (see the module docstring) for the nets `build(conv) -> (G, D)`.

    g_input: G's input shape [B, z_dim]; d_input: D's [B', ...]; population: members of a vmapped step (0: a
    solo step); workdirs: the trial folders whose records a resumed run keeps; fixed_auto: backend -> choice
    taken without measuring; cache_dir: the user cache folder (default `$GAN_BENCH_CACHE` or
    ~/.cache/gan_bench).
    """
    if requested not in CONV_IMPLS:
        raise ValueError(f"trial.conv_impl = {requested!r}; expected one of {', '.join(CONV_IMPLS)}")
    stacked = population > 0
    if requested != "auto":
        return ConvChoice(requested, requested, stacked, "set by trial.conv_impl")
    recorded = _recorded(workdirs)
    backend = jax.default_backend()
    if recorded:
        choice = ConvChoice("auto", recorded["chosen"], stacked, recorded.get("reason", ""), recorded.get("seconds"))
    elif backend in fixed_auto:
        choice = ConvChoice("auto", fixed_auto[backend], stacked,
                            f"fixed for backend {backend!r}: chosen by per-op measurements there (BENCHMARKS.md), "
                            f"and the same numbers on every such machine")
    else:
        choice = _measured(build, tuple(g_input), tuple(d_input), population, cache_dir)
    return _process_zero_decides(choice)


def _recorded(workdirs: Sequence[str]) -> Optional[dict]:
    """The 'auto' decision recorded in the trial folders, when they hold one and agree on it."""
    records = []
    for workdir in workdirs:
        path = os.path.join(workdir, RECORD_FILE)
        if not os.path.isfile(path):
            continue
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path} is not readable JSON ({e}); delete it to choose the convolution "
                             f"implementation again") from e
        if isinstance(record, dict) and record.get("conv_impl") == "auto" and record.get("chosen") in IMPLEMENTATIONS:
            records.append(record)
    return records[0] if records and len({r["chosen"] for r in records}) == 1 else None


def _process_zero_decides(choice: ConvChoice) -> ConvChoice:
    """Every process of a multi-host run must compile the same program: process 0's choice wins."""
    if jax.process_count() == 1:
        return choice
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
    index = int(multihost_utils.broadcast_one_to_all(np.int32(IMPLEMENTATIONS.index(choice.chosen))))
    if IMPLEMENTATIONS[index] == choice.chosen:
        return choice
    return dataclasses.replace(choice, chosen=IMPLEMENTATIONS[index], reason="the choice of process 0", seconds=None)


def _default_cache_dir() -> str:
    from gan_bench.metrics.weights import cache_dir  # pylint: disable=import-outside-toplevel
    return cache_dir()


def _measured(build, g_input, d_input, population: int, cache_dir: Optional[str]) -> ConvChoice:
    nets = {name: build(conv_impl(name, population > 0)) for name in IMPLEMENTATIONS}
    args = _example_args(*nets[IMPLEMENTATIONS[0]], g_input, d_input, population)
    key = _cache_key(*nets[IMPLEMENTATIONS[0]], args, population)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    path = os.path.join(cache_dir or _default_cache_dir(), "conv_impl", f"{digest}.json")
    cached = _read_cache(path, key)
    if cached:
        return ConvChoice("auto", cached["chosen"], population > 0, cached["reason"], cached.get("seconds"))
    lowered = {name: jax.jit(_backward_pass(g, d, population)).lower(*args) for name, (g, d) in nets.items()}
    texts = {name: low.as_text() for name, low in lowered.items()}
    if len(set(texts.values())) == 1:
        chosen, seconds = IMPLEMENTATIONS[0], None
        reason = "the implementations lower to the same program (no convolution)"
    else:
        seconds = {name: _median_seconds(low.compile(), args) for name, low in lowered.items()}
        chosen = min(IMPLEMENTATIONS, key=lambda name: seconds[name])
        reason = (f"faster G and D forward + backward pass at these shapes, median of {TIMED_REPS} "
                  f"(measured {datetime.datetime.now().isoformat(timespec='minutes')})")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    concurrent = _read_cache(path, key)  # another process of a sweep measured meanwhile: keep one decision
    if concurrent:
        return ConvChoice("auto", concurrent["chosen"], population > 0, concurrent["reason"], concurrent.get("seconds"))
    atomic_write_json(path, {"key": key, "chosen": chosen, "reason": reason, "seconds": seconds})
    return ConvChoice("auto", chosen, population > 0, reason, seconds)


def _read_cache(path: str, key: dict) -> Optional[dict]:
    """The cached decision at `path` for `key`; None when absent, unreadable or for another key."""
    try:
        with open(path) as f:
            cached = json.load(f)
    except (OSError, ValueError):
        return None
    ok = isinstance(cached, dict) and cached.get("key") == key and cached.get("chosen") in IMPLEMENTATIONS
    return cached if ok else None


def _variable_shapes(module, x) -> dict:
    return jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x, train=False))


def _example_args(g, d, g_input, d_input, population: int):
    """(G variables, D variables, z, x): values drawn with NumPy on the nets' shapes, stacked for a population."""
    rng = np.random.RandomState(0)
    lead = (population,) if population else ()

    def draw(path, leaf):
        if "var" in jax.tree_util.keystr(path):  # batch-norm variances stay positive
            return np.ones(lead + leaf.shape, leaf.dtype)
        return (0.02 * rng.standard_normal(lead + leaf.shape)).astype(leaf.dtype)

    z = rng.standard_normal(lead + g_input).astype(np.float32)
    x = rng.standard_normal(lead + d_input).astype(np.float32)
    g_vars = jax.tree_util.tree_map_with_path(draw, _variable_shapes(g, jnp.zeros(g_input)))
    d_vars = jax.tree_util.tree_map_with_path(draw, _variable_shapes(d, jnp.zeros(d_input)))
    return g_vars, d_vars, z, x


def _cache_key(g, d, args, population: int) -> dict:
    shapes = jax.tree_util.tree_map(lambda a: [list(np.shape(a)), str(np.asarray(a).dtype)], args)
    # Through JSON and back, so that it compares equal to the key read from the cache (tuples become lists).
    return json.loads(json.dumps({"backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__,
            "devices": jax.device_count(), "nets": [type(g).__name__, type(d).__name__], "shapes": shapes,
            "population": population}))


def _backward_pass(g, d, population: int):
    """Gradients of sum(G(z)) + sum(D(x)) w.r.t. both nets' parameters and x, in training mode: the
    convolution work of a training step (D's input gradient is what G's update and the penalties take)."""
    def run(module, variables, inputs):
        state = [c for c in variables if c != "params"]
        return module.apply(variables, inputs, train=True, mutable=state)[0]

    def loss(g_params, d_params, g_vars, d_vars, z, x):
        g_out = run(g, {**g_vars, "params": g_params}, z)
        d_out = run(d, {**d_vars, "params": d_params}, x)
        return jnp.sum(g_out) + jnp.sum(d_out)

    def grads(g_vars, d_vars, z, x):
        return jax.grad(loss, argnums=(0, 1, 5))(g_vars["params"], d_vars["params"], g_vars, d_vars, z, x)

    return jax.vmap(grads) if population else grads


def _median_seconds(compiled, args) -> float:
    jax.block_until_ready(compiled(*args))  # first call: allocation, autotuning
    times = []
    for _ in range(TIMED_REPS):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)
