"""Population training: one vmapped population of P trials vs P separate sequential runs of the same steps.

For each net and P, gan_bench's `Engine(cfg, P, stacked=True)` (one compiled step trains P members with a
leading population axis) is timed against `Engine(cfg, 1, stacked=False)` (one member; P trials run one after
another take P times as long). The two alternate (A B A B ...) and medians are used; compile time (first call)
is reported apart. Throughput is member-steps/s = steps/s x P; trials/hour = member-steps/s x 3600 / the
preset's trial length (ring8 2,000, InfoGAN-MNIST 18,750, DCGAN-CIFAR 100,000 generator steps).
Speed-up = vmapped member-steps/s / sequential member-steps/s (> 1: the population is faster). GB pop / solo:
the compiled steps' peak memory (XLA's memory analysis); max P: the largest population that the line through
those two puts within one worker's planned memory here (gan_bench.train.population_size, whose module command
compiles the sizes themselves for the exact figure that `gan-bench sweep --population auto` uses).

  python3 benchmarks/bench_population.py                                    # default; InfoGAN P >= 8 and DCGAN take long on CPU
  python3 benchmarks/bench_population.py --nets mlp,infogan,dcgan --population 1,4,8,16 --image_batch 64 --reps 5
  python3 benchmarks/bench_population.py --nets dcgan,sndcgan,resnet_cifar --dcgan_population 8 --image_batch 64 \
      --conv_impl xla,cpu_tuned      # both convolution implementations, one row each
  python3 benchmarks/bench_population.py --nets sndcgan --dcgan_population 8 --image_batch 64 --n_disc 5
      # the Kurach SNDCGAN CIFAR-10 preset's own step (n_disc 5): its trials/hour, population vs solo

`--n_disc` (default 1) sets the discriminator steps of each generator step for every net; a trial's length
stays in generator steps, so trials/hour falls with it. `--conv_impl` (comma list of auto, xla, cpu_tuned;
default auto) sets `trial.conv_impl` of both the population and the solo runs. `--precision` sets the matmul /
conv precision as in bench_train_step.py.

End to end (`--sweep P`): what a user of `gan-bench sweep` sees. P ring8 trials of the preset (2,000 steps,
evaluation and checkpoints included), differing in seed and learning rates, run as real sweeps in fresh results
folders: `--workers 1 --population P` against `--workers 1` (P trials one after another, each in its own
process) and `--workers 2` (two processes at a time). trials/hour = P x 3600 / the sweep's wall time, process
start, compilation (cold cache at the start of each sweep) and evaluation included.

  python3 benchmarks/bench_population.py --nets none --sweep 8
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from gan_bench.outputs import read_status

from bench_train_step import (D_NORM, PRECISIONS, interleaved, machine_info, make_engine, run_steps, set_precision,
                              trial_config, write_json)

# net -> (data shape, extra gin bindings, trial length of the preset in generator steps)
SETTINGS = {
    "mlp": (None, ["trial.g_norm = 'none'", "trial.z_dim = 64"], 2000),
    "infogan": ((28, 28, 1), ["trial.z_dim = 64", "trial.z_dist = 'uniform'"], 18750),
    "dcgan": ((32, 32, 3), [], 100000),
    "sndcgan": ((32, 32, 3), [], 100000),
    "resnet_cifar": ((32, 32, 3), [], 100000),
}
SPECTRAL_D = ("sndcgan", "resnet_cifar")  # their presets' D norm; the others run without one


def config(net: str, batch: int, conv: str = "auto", n_disc: int = 1):
    shape, extra, _ = SETTINGS[net]
    extra = [*extra, f"trial.conv_impl = '{conv}'"]
    if net == "mlp":  # the ring of 8 Gaussians, the preset's batch 128
        return trial_config("mlp", (2,), 128, n_disc, ["trial.dataset = 'ring8'", "trial.d_norm = 'none'", *extra])
    d_norm = D_NORM[net] if net in SPECTRAL_D else "none"
    return trial_config(net, shape, batch, n_disc, [f"trial.d_norm = '{d_norm}'", *extra])


def bench(net: str, members: int, batch: int, reps: int, steps: int, conv: str = "auto", n_disc: int = 1) -> dict:
    cfg = config(net, batch, conv, n_disc)
    timings = {}
    runs, compiled = [], []
    for label, p, stacked in (("population", members, True), ("solo", 1, False)):
        engine, state, real = make_engine(cfg, p, stacked)
        t0 = time.perf_counter()
        state, _ = run_steps(engine, state, real, 1)
        timings[f"{label}_compile_s"] = time.perf_counter() - t0
        box = {"state": state}

        def run(engine=engine, real=real, box=box):
            box["state"], seconds = run_steps(engine, box["state"], real, steps)
            return seconds
        runs.append(run)
        compiled.append((engine, box, real))
    pop_times, solo_times = interleaved(runs, reps)
    lowered = {n: engine.step.lower(box["state"], real)  # each step's program once, for memory and FLOPs
               for n, (engine, box, real) in ((members, compiled[0]), (1, compiled[1]))}
    memory = memory_figures(members, lowered)
    pop_rate = members * steps / statistics.median(pop_times)  # member-steps/s
    solo_rate = steps / statistics.median(solo_times)
    arithmetic = arithmetic_figures(members, pop_rate, solo_rate, lowered)
    trial_len = SETTINGS[net][2]
    return {"net": net, "P": members, "batch": cfg.batch_size, "n_disc": cfg.n_disc, "conv_impl": conv,
            "d_norm": cfg.d_norm, "reps": reps, "steps": steps, **timings,
            "population_member_steps_s": pop_rate, "sequential_member_steps_s": solo_rate,
            "population_trials_per_hour": pop_rate * 3600 / trial_len,
            "sequential_trials_per_hour": solo_rate * 3600 / trial_len, "speedup": pop_rate / solo_rate,
            "trial_steps": trial_len, "population_times": pop_times, "solo_times": solo_times, **memory,
            **arithmetic}


def memory_figures(members: int, lowered) -> dict:
    """Peak memory of the two compiled steps (XLA's memory analysis of the lowered steps compiled once more:
    after the timings, so it costs wall time but moves no figure) and the largest population the line through
    them puts within one worker's planned memory on this machine (gan_bench.train.population_size:
    `python -m gan_bench.train.population_size` compiles the sizes themselves and gives the exact figure).
    Empty where the backend reports none."""
    from gan_bench.train.population_size import compiled_peak_bytes, line_fit, memory_budget, usable
    try:
        peaks = {n: compiled_peak_bytes(program.compile()) for n, program in lowered.items()}
    except RuntimeError as e:
        return {"memory_note": str(e)}
    budget, source = memory_budget(1)
    figures = {"population_peak_bytes": peaks[members], "solo_peak_bytes": peaks[1], "budget_bytes": budget,
               "budget_source": source}
    if members > 1:
        figures["largest_P_estimate"] = line_fit(peaks, usable(budget))
    return figures


def arithmetic_figures(members: int, pop_rate: float, solo_rate: float, lowered) -> dict:
    """FLOPs of one call of each step (XLA's count on the lowered program: nothing is compiled) and the rate
    each runs at, in TFLOP/s. Set against the chip's peak, the solo rate says how idle a solo step leaves it, and
    so how much a population can gain at most. Empty where the backend counts none."""
    flops = {}
    for n, program in lowered.items():
        cost = program.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost  # older JAX: one dict per computation
        flops[n] = (cost or {}).get("flops")
    if not flops[1] or not flops[members]:
        return {}
    return {"solo_step_flops": flops[1], "population_step_flops": flops[members],
            "solo_tflop_s": flops[1] * solo_rate / 1e12,
            "population_tflop_s": flops[members] * pop_rate / members / 1e12}


SWEEP_FILE = """include '{preset}'
trial.train_steps = {steps}
sweep.grid = [{{'trial.g_lr': [1e-3, 3e-4], 'trial.d_lr': [1e-3, 3e-4]}}]
sweep.seeds = {seeds}
"""


def bench_sweep(trials: int, steps: int, modes) -> list:
    """Wall time of real `gan-bench sweep` runs of `trials` ring8 trials, one fresh results folder per mode.

    `modes`: (workers, population) pairs. Every trial must end done, or the figure is not reported.
    """
    if trials % 4:
        raise ValueError(f"--sweep must be a multiple of 4 (2 g_lr x 2 d_lr x seeds), got {trials}")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        sweep_file = os.path.join(folder, "ring8.gin")
        with open(sweep_file, "w") as f:
            f.write(SWEEP_FILE.format(preset=os.path.join(root, "gin_configs/presets/ring8_mlp.gin"),
                                      steps=steps, seeds=trials // 4))
        for workers, population in modes:
            results = os.path.join(folder, f"w{workers}_p{population}")
            cmd = [sys.executable, "-m", "gan_bench.cli", "sweep", sweep_file, "--results", results,
                   "--workers", str(workers), "--population", str(population)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=root)
            seconds = time.perf_counter() - t0
            done = sum((read_status(os.path.join(results, d)) or {}).get("state") == "done"
                       for d in os.listdir(results))
            if proc.returncode != 0 or done != trials:
                raise RuntimeError(f"sweep {cmd} ended {proc.returncode} with {done}/{trials} trials done:\n"
                                   f"{proc.stderr[-3000:]}")
            rows.append({"trials": trials, "steps": steps, "workers": workers, "population": population,
                         "wall_s": seconds, "trials_per_hour": trials * 3600 / seconds})
            print(f"sweep of {trials} ring8 trials, workers {workers}, population {population}: "
                  f"{seconds:.1f} s, {rows[-1]['trials_per_hour']:.0f} trials/h", flush=True)
    base = rows[0]["trials_per_hour"] if rows else 1.0
    for r in rows:
        r["speedup_vs_first"] = r["trials_per_hour"] / base
    return rows


def print_row(r: dict) -> None:
    print(f"{r['net']:12s} {r['conv_impl']:9s} {r['P']:3d} {r['batch']:5d} {r['n_disc']:3d} "
          f"{r['population_compile_s']:9.1f}/{r['solo_compile_s']:<8.1f} "
          f"{r['population_member_steps_s']:18.2f} {r['sequential_member_steps_s']:8.2f} "
          f"{r['speedup']:8.2f} {r['population_trials_per_hour']:12.2f} "
          f"{r['sequential_trials_per_hour']:8.2f} {_gb(r.get('population_peak_bytes')):>9s} "
          f"{_gb(r.get('solo_peak_bytes')):>9s} {r.get('largest_P_estimate', '-'):>7} "
          f"{_tflops(r.get('population_tflop_s')):>8s} {_tflops(r.get('solo_tflop_s')):>8s}", flush=True)


def _gb(n) -> str:
    return "-" if n is None else f"{n / 1e9:.3f}"


def _tflops(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", default="mlp,infogan,dcgan",
                   help="comma list of mlp, infogan, dcgan, sndcgan, resnet_cifar")
    p.add_argument("--population", default="1,4,8,16", help="population sizes P for mlp and infogan")
    p.add_argument("--dcgan_population", default="1,4",
                   help="population sizes P for dcgan, sndcgan and resnet_cifar (slow on CPU)")
    p.add_argument("--image_batch", type=int, default=16, help="batch of infogan and dcgan (presets: 64)")
    p.add_argument("--n_disc", type=int, default=1,
                   help="discriminator steps per generator step, every net (the Kurach SNDCGAN preset: 5)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="steps per repetition of mlp")
    p.add_argument("--image_steps", type=int, default=2, help="steps per repetition of infogan and dcgan")
    p.add_argument("--sweep", type=int, default=0, metavar="P",
                   help="also time real sweeps of P ring8 trials: population P vs one after another (0: off)")
    p.add_argument("--sweep_steps", type=int, default=2000, help="train steps of each sweep trial (preset: 2000)")
    p.add_argument("--conv_impl", default="auto", help="comma list of auto, xla, cpu_tuned (trial.conv_impl)")
    p.add_argument("--precision", default="default", choices=sorted(PRECISIONS),
                   help="matmul / conv precision (default: jax's own)")
    p.add_argument("--json", help="write all figures to this file (atomically)")
    args = p.parse_args(argv)
    convs = [c for c in args.conv_impl.split(",") if c]
    bad = sorted(set(convs) - {"auto", "xla", "cpu_tuned"})
    if bad or not convs:
        raise ValueError(f"--conv_impl: unknown {bad or convs}; choose from auto, xla, cpu_tuned")
    nets = [n for n in args.nets.split(",") if n and n != "none"]
    unknown = sorted(set(nets) - set(SETTINGS))
    if unknown:
        raise ValueError(f"--nets: unknown {unknown}; choose from {sorted(SETTINGS)}")
    sizes = {n: [int(x) for x in (args.population if n in ("mlp", "infogan") else args.dcgan_population).split(",")]
             for n in nets}
    if min([min(v) for v in sizes.values()] + [1]) < 1 or min(args.image_batch, args.reps, args.steps, args.image_steps,
                                                             args.n_disc) < 1:
        raise ValueError("population sizes, --image_batch, --n_disc, --reps, --steps and --image_steps must be >= 1")
    set_precision(args.precision)
    info = machine_info()
    info["precision"] = args.precision
    print(json.dumps(info))
    print(f"{'net':12s} {'conv':9s} {'P':>3s} {'batch':>5s} {'n_d':>3s} {'compile pop/solo s':>18s} "
          f"{'member-steps/s pop':>18s} "
          f"{'seq':>8s} {'speed-up':>8s} {'trials/h pop':>12s} {'seq':>8s} {'GB pop':>9s} {'GB solo':>9s} "
          f"{'max P':>7s} {'TFLOP/s P':>8s} {'solo':>8s}")
    rows = []
    for net in nets:
        for conv in convs:
            for members in sizes[net]:
                r = bench(net, members, args.image_batch, args.reps,
                          args.steps if net == "mlp" else args.image_steps, conv, args.n_disc)
                rows.append(r)
                print_row(r)
                if args.json:  # after every row: a run stopped by a time limit keeps what it measured
                    write_json(args.json, {"machine": info, "command": " ".join(sys.argv), "population": rows})
    sweeps = []
    if args.sweep:
        sweeps = bench_sweep(args.sweep, args.sweep_steps, [(1, 1), (1, args.sweep), (2, 1)])
    if args.json:
        write_json(args.json, {"machine": info, "command": " ".join(sys.argv), "population": rows,
                               "sweeps": sweeps})
    return 0


if __name__ == "__main__":
    sys.exit(main())
