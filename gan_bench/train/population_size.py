"""How many members fit: the largest population of one vmapped step that a worker's memory holds.

`gan-bench sweep --population auto` asks this, in a child process with a worker's devices, for each group of
trials that may share a step. The answer comes from XLA, not from a rule of thumb: the peak memory of the
compiled call a run makes (`Compiled.memory_analysis()`: parameters, optimizer state, the batch, activations
and gradients, donated buffers counted once), at the group's size first, since on a large accelerator the
whole group usually fits. When it does not, memory is linear in P (state, batch and activations all grow with
the members, the program's fixed part does not), so the next size is read off the line through the sizes
already compiled and checked by compiling it. Nothing runs: compiling is enough, and it needs no data beyond
one batch. (With `trial.conv_impl = 'auto'` on an accelerator, building each size's engine also times the two
convolution implementations at that size, as every run does; the decision is cached per size, so the
population's worker reuses it. Set `trial.conv_impl` to skip that.)

The budget: an accelerator's allocator limit (`memory_stats()['bytes_limit']`, what JAX may take: 75 % of a GPU
by default) divided by the workers that share the device; on a CPU, the host's available memory divided by
the workers, less this process's resident size (interpreter, JAX, the data set), which each worker pays too.
Only USABLE_FRACTION of it is planned for the step; the rest is left for what that program does not hold:
evaluation (the Inception network's batches), samples, and allocator fragmentation.

    python -m gan_bench.train.population_size --gin_file gin_configs/presets/kurach_sndcgan_cifar10.gin --max 64

prints, as one JSON line, the largest P up to 64 that fits one worker on this machine, and the peak bytes of
every size it compiled.
"""
import argparse
import dataclasses
import json
import os
import sys
from typing import Callable, Dict, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp

USABLE_FRACTION = 0.8  # of the budget, planned for the step's program; the rest: evaluation, fragmentation
MAX_PROBES = 6  # compiles at most, group size included


@dataclasses.dataclass
class Sizing:
    """The decision and what it rests on (written to the sweep's population_sizes.json)."""

    members: int  # P: the largest size that fits (at least 1)
    peak_bytes: Dict[int, int]  # compiled peak memory at every size compiled
    budget_bytes: int  # what one worker may use, before USABLE_FRACTION
    budget_source: str  # where the budget came from, in words
    reason: str

    def record(self) -> dict:
        return {"members": self.members, "peak_bytes": {str(p): b for p, b in sorted(self.peak_bytes.items())},
                "budget_bytes": self.budget_bytes, "usable_bytes": usable(self.budget_bytes),
                "budget_source": self.budget_source, "reason": self.reason}


def usable(budget_bytes: int) -> int:
    return int(budget_bytes * USABLE_FRACTION)


def compiled_peak_bytes(compiled) -> int:
    """Peak device memory of a compiled program, as XLA's buffer assignment reports it."""
    stats = compiled.memory_analysis()
    if stats is None:
        raise RuntimeError("this backend's compiled programs report no memory analysis; give the memory per "
                           "worker (--population_memory) and a fixed --population P instead of auto")
    peak = int(getattr(stats, "peak_memory_in_bytes", 0) or 0)
    if peak:
        return peak
    return int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
               - stats.alias_size_in_bytes)


def _abstract(tree):
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), tree)


def lowered_step(cfg, members: int):
    """The call a population of `members` trials of `cfg` makes each step (K steps of `trial.steps_per_call`
    in one call), lowered for this process's devices on abstract state and batch: nothing is compiled yet."""
    from gan_bench.gan.state import hparams_of  # pylint: disable=import-outside-toplevel
    from gan_bench.train.engine import Engine  # pylint: disable=import-outside-toplevel

    engine = Engine(cfg, members, stacked=True)
    hparams = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct((members,) + jnp.shape(x), jnp.result_type(x)),
                                     hparams_of(cfg))
    state = jax.eval_shape(engine.init, jax.ShapeDtypeStruct((members,), jnp.int32), hparams)
    k = cfg.steps_per_call
    batch = _abstract(engine.load([cfg] * members, 0, k))
    program = engine.multi_step if k > 1 else engine.step
    return program.lower(state, batch)


def step_peak_bytes(cfg, members: int) -> int:
    """Peak memory of `lowered_step(cfg, members)`, compiled and not run."""
    return compiled_peak_bytes(lowered_step(cfg, members).compile())


def line_fit(peaks: Dict[int, int], budget: int, multiple: int = 1) -> int:
    """The largest multiple of `multiple` whose peak, on the line through the two largest sizes in `peaks`,
    is at most `budget`; 0 when none is. A line that does not rise (the fixed part dominates both sizes)
    says every size fits as well as the larger one: that size is returned."""
    (p1, b1), (p2, b2) = sorted(peaks.items())[-2:]
    slope = (b2 - b1) / (p2 - p1)
    if slope <= 0:
        return p2 if b2 <= budget else 0
    p = p1 + (budget - b1) / slope
    return max(0, int(p // multiple) * multiple)


def top_size(cap: int, multiple: int) -> int:
    """The largest size a search up to `cap` tries: `cap` rounded down to a multiple of `multiple`, at least
    `multiple`."""
    return max(multiple, cap // multiple * multiple)


def largest_population(probe: Callable[[int], int], cap: int, budget: int, multiple: int = 1,
                       budget_source: str = "") -> Sizing:
    """The largest P <= `cap` (a multiple of `multiple`: the local devices the population axis shards over)
    whose `probe(P)` (compiled peak bytes) is at most usable(budget); see the module docstring.

    Probes the cap first, then `multiple`, then sizes on the line through the nearest sizes that fit and do
    not (after the first such size, kept to the middle half of the sizes left), until two neighbours are known,
    the line says the largest fitting size is found, or MAX_PROBES compiles are spent; returns the largest
    size probed that fits. Even `multiple` members not fitting gives 1 (each trial alone), with that said in `reason`.
    """
    if cap < 1 or multiple < 1:
        raise ValueError(f"cap and multiple must be >= 1, got {cap} and {multiple}")
    limit = usable(budget)
    cap = top_size(cap, multiple)
    peaks = {cap: probe(cap)}

    def sizing(members, reason):
        return Sizing(members, peaks, budget, budget_source, reason)
    if peaks[cap] <= limit:
        return sizing(cap, f"the whole group ({cap}) fits")
    if cap == multiple:
        return sizing(1, f"P = {cap} needs {peaks[cap]} bytes, over the {limit} planned: each trial alone")
    peaks[multiple] = probe(multiple)
    if peaks[multiple] > limit:
        return sizing(1, f"P = {multiple} needs {peaks[multiple]} bytes, over the {limit} planned: "
                         f"each trial alone")
    lo, hi = multiple, cap
    while hi - lo > multiple and len(peaks) < MAX_PROBES:
        guess = line_fit({lo: peaks[lo], hi: peaks[hi]}, limit, multiple)
        # The first guess is trusted (memory is linear); later ones, which only a bent curve asks for, are
        # kept to the middle half of what is left, so that every compile at least quarters the interval.
        margin = multiple if len(peaks) == 2 else max(multiple, (hi - lo) // 4 // multiple * multiple)
        guess = min(max(guess, lo + margin), hi - margin)
        peaks[guess] = probe(guess)
        if peaks[guess] <= limit:
            lo = guess
            if line_fit({lo: peaks[lo], hi: peaks[hi]}, limit, multiple) <= lo:
                break  # the line through the sizes either side says nothing larger fits
        else:
            hi = guess
    reason = f"{lo} members fit ({peaks[lo]} of {limit} bytes planned), {hi} do not ({peaks[hi]})"
    if hi - lo > multiple:  # the sizes between were not compiled: say what the line puts on the next one
        after = peaks[lo] + (peaks[hi] - peaks[lo]) * multiple / (hi - lo)
        reason += f"; the line through them puts {lo + multiple} at {after:.0f}"
    return sizing(lo, reason)


def _proc_kib(path: str, field: str) -> Optional[int]:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_budget(sharing: int = 1) -> Tuple[int, str]:
    """(bytes one worker may use, where that figure came from): see the module docstring. `sharing`: the
    workers that share this process's devices (on a CPU: every worker on the host)."""
    if sharing < 1:
        raise ValueError(f"sharing must be >= 1, got {sharing}")
    device = jax.local_devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        limit = int(stats["bytes_limit"])
        return limit // sharing, f"{device.device_kind} allocator limit {limit} bytes / {sharing} worker(s)"
    available = _proc_kib("/proc/meminfo", "MemAvailable")
    available = (available * 1024 if available is not None
                 else os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    rss = (_proc_kib("/proc/self/status", "VmRSS") or 0) * 1024
    budget = max(0, available // sharing - rss)
    return budget, (f"host available memory {available} bytes / {sharing} worker(s), less this process's "
                    f"resident {rss} bytes")


def size_population(gin_files: Sequence[str], gin_bindings: Sequence[str], cap: int, sharing: int = 1,
                    memory_bytes: Optional[int] = None) -> Sizing:
    """The largest population of the configuration's trials, up to `cap`, that fits one worker here
    (`memory_bytes`: that worker's memory, instead of measuring it)."""
    from gan_bench.config import parse_config  # pylint: disable=import-outside-toplevel

    cfg = parse_config(gin_files, gin_bindings)
    multiple = jax.local_device_count()
    first = top_size(cap, multiple)
    lowered = lowered_step(cfg, first)
    # The budget now: the process holds what a worker holds (interpreter, JAX, the data set) and not yet the
    # compiler's working memory, which a worker gives back before it steps.
    if memory_bytes is None:
        budget, source = memory_budget(sharing)
    else:
        budget, source = int(memory_bytes), f"given: {int(memory_bytes)} bytes per worker"
    compiled = {first: compiled_peak_bytes(lowered.compile())}

    def probe(members):
        return compiled[members] if members in compiled else step_peak_bytes(cfg, members)
    return largest_population(probe, cap, budget, multiple, source)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gin_file", action="append", default=[], help="gin file of the trials (repeatable)")
    p.add_argument("--gin_binding", action="append", default=[], help="gin binding (repeatable)")
    p.add_argument("--max", type=int, required=True, help="the largest population wanted (the group's size)")
    p.add_argument("--sharing", type=int, default=1, help="workers sharing this process's devices (default 1)")
    p.add_argument("--memory_bytes", type=int, default=None, help="one worker's memory, instead of measuring it")
    args = p.parse_args(argv)
    from gan_bench.jax_cache import enable_if_requested  # pylint: disable=import-outside-toplevel
    enable_if_requested()  # as a sweep's workers: they then find the compiled step there
    sizing = size_population(args.gin_file, args.gin_binding, args.max, args.sharing, args.memory_bytes)
    record = sizing.record()
    record["devices"] = f"{jax.local_device_count()} x {jax.local_devices()[0].device_kind}"
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
