"""Steps per compiled call (`trial.steps_per_call`): K generator steps as one `lax.scan` call vs one call a step.

A small net's step is over in microseconds on an accelerator, and then the host's work per step — the Python
dispatch of the call, the real batch loaded and transferred — is what bounds a trial. K steps per call pay
that once per K steps. This times the training loop's own path: the batches of each call loaded through the
loop's `Prefetcher` (`Engine.load(cfgs, step, n)`), the calls made by `Engine.run_steps`, the calls laid out
by the loop's `call_plan`, for each K in `--steps_per_call`, interleaved (K=1, K=10, ..., K=1, K=10, ...) with
medians. The first call (compilation) is timed apart. A population (`--population P`) trains P seeds in one
vmapped step; member-steps/s = steps/s x P. "load ms/step" times the same calls' batches loaded and
transferred without training: the host's share, which bounds steps/s once the device is faster than it.

  python3 benchmarks/bench_steps_per_call.py                   # PacGAN2 on the ring, the paper's protocol
  python3 benchmarks/bench_steps_per_call.py --population 10 --steps 2000 --steps_per_call 1,10,100
  python3 benchmarks/bench_steps_per_call.py --gin gin_configs/presets/pacgan_grid.gin --bind "trial.pack = 4"
"""
import argparse
import dataclasses
import json
import statistics
import sys
import time

import jax

from bench_train_step import (interleaved, machine_info, make_engine, precision_bindings, set_precision, PRECISIONS,
                              write_json)

DEFAULT_GIN = "gin_configs/presets/pacgan_ring.gin"


def make_run(cfg, members: int):
    """(compile seconds, run(steps) -> seconds): an engine for `cfg` with `members` seeds, trained on through
    the loop's path from where the previous run stopped."""
    from gan_bench.train.loop import call_plan  # pylint: disable=import-outside-toplevel
    from gan_bench.train.prefetch import Prefetcher  # pylint: disable=import-outside-toplevel
    engine, state, _ = make_engine(cfg, members, stacked=members > 1)  # members' seeds 0..P-1
    cfgs = [dataclasses.replace(cfg, seed=s) for s in range(members)]
    box = {"state": state, "step": 0}

    def run(steps: int) -> float:
        calls = call_plan(box["step"], box["step"] + steps, engine.steps_per_call, [])
        prefetch = Prefetcher(lambda call: engine.load(cfgs, *call), calls)
        try:
            t0 = time.perf_counter()
            for _ in calls:
                (_, n), batch = prefetch.get()
                box["state"], logs = engine.run_steps(box["state"], batch, n)
            jax.block_until_ready((box["state"], logs))
            seconds = time.perf_counter() - t0
        finally:
            prefetch.close()
        box["step"] += steps
        return seconds

    def load_only(steps: int) -> float:
        """Seconds to load (host batches, device transfer) what `run(steps)` trains on, without training."""
        t0 = time.perf_counter()
        for call in call_plan(0, steps, engine.steps_per_call, []):
            jax.block_until_ready(engine.load(cfgs, *call))
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    run(engine.steps_per_call)  # the first call: compilation
    return time.perf_counter() - t0, run, load_only


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gin", action="append", help=f"gin file(s) of the trial (default {DEFAULT_GIN})")
    p.add_argument("--bind", action="append", default=[], help="extra gin bindings (default: trial.pack = 2)")
    p.add_argument("--population", type=int, default=1, help="members trained by one vmapped step (1: solo)")
    p.add_argument("--steps_per_call", default="1,10,50", help="comma list of K; the first is the baseline")
    p.add_argument("--steps", type=int, default=500, help="generator steps per timed repetition (a multiple of "
                                                          "every K)")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions (median)")
    p.add_argument("--precision", default="default", choices=sorted(PRECISIONS))
    p.add_argument("--json", help="write the figures to this file (atomically)")
    args = p.parse_args(argv)
    ks = [int(k) for k in args.steps_per_call.split(",") if k.strip()]
    if not ks or min(ks) < 1 or args.population < 1 or args.reps < 1 or any(args.steps % k for k in ks):
        raise ValueError(f"--steps_per_call {args.steps_per_call!r}, --population {args.population}, --reps "
                         f"{args.reps}, --steps {args.steps}: expected K >= 1 dividing --steps, P >= 1, reps >= 1")
    from gan_bench.config import parse_config  # pylint: disable=import-outside-toplevel
    set_precision(args.precision)
    gin_files = args.gin or [DEFAULT_GIN]
    bindings = args.bind or ["trial.pack = 2"]
    runs, rows = [], []
    info = machine_info()
    print(json.dumps(info))
    for k in ks:
        cfg = parse_config(gin_files, [*precision_bindings(), *bindings, f"trial.steps_per_call = {k}"])
        compile_s, run, load_only = make_run(cfg, args.population)
        runs.append((run, load_only))
        rows.append({"steps_per_call": k, "compile_s": compile_s})
    times = interleaved([lambda run=run: run(args.steps) for run, _ in runs], args.reps)
    load_times = interleaved([lambda load=load: load(args.steps) for _, load in runs], args.reps)
    base = None
    print(f"{'K':>5s} {'compile s':>9s} {'steps/s':>9s} {'member-steps/s':>14s} {'vs K=' + str(ks[0]):>8s} "
          f"{'load ms/step':>12s}")
    for row, t, lt in zip(rows, times, load_times):
        rate = args.steps / statistics.median(t)
        base = rate if base is None else base
        load_ms = 1e3 * statistics.median(lt) / args.steps
        row.update(steps_s=rate, member_steps_s=rate * args.population, speedup=rate / base, times=t,
                   load_ms_per_step=load_ms)
        print(f"{row['steps_per_call']:5d} {row['compile_s']:9.1f} {rate:9.1f} {rate * args.population:14.1f} "
              f"{rate / base:8.2f} {load_ms:12.2f}", flush=True)
    if args.json:
        write_json(args.json, {"machine": info, "command": " ".join(sys.argv), "gin": gin_files, "bindings": bindings,
                               "population": args.population, "steps": args.steps, "reps": args.reps,
                               "steps_per_call": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
