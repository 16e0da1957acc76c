"""Data parallelism over 1 -> 8 forced host devices, and time-to-first-step with a cold / warm compilation cache.

Each device count runs in a fresh subprocess with `XLA_FLAGS=--xla_force_host_platform_device_count=N`
(the flag must be set before JAX starts). The worker trains one trial with gan_bench's `Engine` (batch
sharded over the N devices, state replicated) for `--steps` steps and reports the median step time and its
final parameters; the parent reports each count's max |param - param(1 device)|. On a CPU the N "devices"
share the same cores, so this measures the overhead and the exactness of the sharded step, not a speed-up.

Then two more fresh subprocesses share one new JAX persistent compilation cache folder
(`gan_bench.jax_cache.enable_compilation_cache`): the first compiles (cold), the second loads (warm).
Time-to-first-step is measured inside the worker from before `import jax` to the end of the first step.

  python3 benchmarks/bench_scaling.py                                     # default (~10 min on 2 busy cores)
  python3 benchmarks/bench_scaling.py --arch dcgan --devices 1,2,4,8 --steps 10
  python3 benchmarks/bench_scaling.py --gpu --arch dcgan --devices 1,2,4,8 --steps 20   # 1 -> 8 real GPUs

`--cache_only`: only the cold / warm compilation-cache pair (time to the first batch), no device scaling.

`--gpu`: each worker sees the first N GPUs (`CUDA_VISIBLE_DEVICES`) instead of N forced host devices; there the
step-time column is the scaling of a fixed global batch over real accelerators.
"""
import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

SHAPES = {"mlp": (2,), "infogan": (28, 28, 1), "dcgan": (32, 32, 3), "sndcgan": (32, 32, 3)}


def worker(args) -> None:
    """Runs in the subprocess: build, compile, train `steps` steps; writes timings and final params."""
    import jax  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel
    from bench_train_step import make_engine, trial_config, write_json  # pylint: disable=import-outside-toplevel
    if args.cache:
        from gan_bench.jax_cache import enable_compilation_cache  # pylint: disable=import-outside-toplevel
        enable_compilation_cache(args.cache)
    extra = ["trial.d_norm = 'none'"] + (["trial.dataset = 'ring8'", "trial.g_norm = 'none'"]
                                         if args.arch == "mlp" else [])
    cfg = trial_config(args.arch, SHAPES[args.arch], args.batch, 1, extra)
    engine, state, real = make_engine(cfg)
    state, logs = engine.step(state, real)
    jax.block_until_ready((state, logs))
    first_step_s = time.perf_counter() - _T_START
    times, losses = [], [{k: float(v) for k, v in logs.items()}]
    for step in range(1, args.steps):
        batch = engine.load([cfg], step)
        t0 = time.perf_counter()
        state, logs = engine.step(state, batch)
        jax.block_until_ready((state, logs))
        times.append(time.perf_counter() - t0)
        losses.append({k: float(v) for k, v in logs.items()})
    leaves = jax.tree_util.tree_flatten_with_path({"G": state.g.params, "D": state.d.params})[0]
    np.savez(args.worker + ".npz", **{jax.tree_util.keystr(path): np.asarray(x) for path, x in leaves})
    write_json(args.worker, {"devices": jax.device_count(), "first_step_s": first_step_s,
                             "step_s": float(np.median(times)) if times else None, "step_times": times,
                             "losses": losses})


def spawn(args, out: str, devices: int, cache: str = "") -> dict:
    """Run one worker in a fresh interpreter with `devices` devices (forced host devices, or the first GPUs with
    `--gpu`); returns its figures."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.abspath(__file__)),
                                                       os.environ.get("PYTHONPATH", "")]))
    if args.gpu:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(devices))
    else:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", out, "--arch", args.arch,
           "--batch", str(args.batch), "--steps", str(args.steps)] + (["--cache", cache] if cache else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"worker with {devices} devices failed:\n{proc.stderr[-3000:]}")
    result = json.load(open(out))
    if result["devices"] != devices:
        raise RuntimeError(f"worker asked for {devices} devices saw {result['devices']}"
                           + (" (fewer GPUs than that?)" if args.gpu else ""))
    result["process_s"] = time.perf_counter() - t0
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="infogan", choices=sorted(SHAPES))
    p.add_argument("--devices", default="1,2,4,8")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=6, help="steps per run (the first, compiling, is not timed)")
    p.add_argument("--gpu", action="store_true", help="device counts are real GPUs, not forced host devices")
    p.add_argument("--cache_only", action="store_true", help="only time the cold and warm compilation cache")
    p.add_argument("--json", help="write all figures to this file (atomically)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    counts = [int(x) for x in args.devices.split(",")]
    if counts[0] != 1 or any(args.batch % n for n in counts) or args.steps < 2:
        raise ValueError(f"--devices must start with 1 and divide --batch {args.batch}; --steps must be >= 2")
    from bench_train_step import machine_info, write_json  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel
    info = machine_info()
    print(json.dumps(info))
    rows, cache_rows = [], []
    with tempfile.TemporaryDirectory(prefix="gan_bench_scaling_") as tmp:
        print(f"{'devices':>7s} {'step ms':>9s} {'vs 1 dev':>8s} {'max rel dloss':>13s} {'max |dparam|':>12s}")
        for n in counts if not args.cache_only else []:
            r = spawn(args, os.path.join(tmp, f"dev{n}.json"), n)
            params = np.load(os.path.join(tmp, f"dev{n}.json.npz"))
            ref = np.load(os.path.join(tmp, "dev1.json.npz"))
            diffs = {k: float(np.max(np.abs(params[k] - ref[k]))) for k in ref.files}
            r["max_abs_param_diff"] = max(diffs.values())
            r["largest_diffs"] = dict(sorted(diffs.items(), key=lambda kv: -kv[1])[:4])  # which parameters
            # The losses of every step: equal to rounding means the same trajectory, whatever Adam did to
            # parameters whose gradient is ~0 (biases before batch norm).
            r["max_rel_loss_diff"] = max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for a, b in
                                         zip(r["losses"], rows[0]["losses"] if rows else r["losses"]) for k in b)
            r["step_ratio_vs_1"] = r["step_s"] / rows[0]["step_s"] if rows else 1.0
            rows.append(r)
            print(f"{n:7d} {1e3 * r['step_s']:9.1f} {r['step_ratio_vs_1']:8.2f} {r['max_rel_loss_diff']:13.1e} "
                  f"{r['max_abs_param_diff']:12.2e}  "
                  + " ".join(f"{k}={v:.1e}" for k, v in r["largest_diffs"].items()), flush=True)
        cache = os.path.join(tmp, "jax_cache")
        print(f"{'cache':>7s} {'first step s':>12s} {'process s':>9s}")
        for label in ("cold", "warm"):
            r = spawn(args, os.path.join(tmp, f"cache_{label}.json"), 1, cache)
            r["cache"] = label
            cache_rows.append(r)
            print(f"{label:>7s} {r['first_step_s']:12.1f} {r['process_s']:9.1f}", flush=True)
    if args.json:
        write_json(args.json, {"machine": info, "command": " ".join(sys.argv), "gpu": args.gpu, "arch": args.arch,
                               "batch": args.batch, "steps": args.steps, "scaling": rows, "cache": cache_rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
