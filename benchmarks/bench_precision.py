"""Train-step speed and drift of the precision policies (`trial.precision`: float32, tf32, bf16).

For each net, gan_bench's train step (`gan_bench.gan.train_step.train_step` on the engine's model) is compiled
once per policy with `gan_bench.precision.with_precision`, and the compiled steps alternate (A B C A B C ...)
from the same initial state and the same real batch; images/s from the median repetition. Drift: after the
timed steps, the largest relative difference of each policy's losses from float32's at the same step, and the
largest absolute parameter difference. On a CPU float32 and tf32 give the same bits and bf16 is emulated
(rounded operands, float32 kernels), so only the drift column means something there.

  python3 benchmarks/bench_precision.py --nets dcgan,sndcgan,resnet_cifar --batch 64 --reps 5 --steps 20
"""
import argparse
import functools
import json
import statistics
import sys
import time

import jax
import numpy as np

from bench_train_step import D_NORM, interleaved, machine_info, make_engine, trial_config, write_json

POLICIES = ("float32", "tf32", "bf16")


def bench_net(arch: str, batch: int, reps: int, steps: int) -> dict:
    from gan_bench import precision  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.train_step import train_step  # pylint: disable=import-outside-toplevel
    cfg = trial_config(arch, (32, 32, 3), batch, 1)
    engine, state0, real = make_engine(cfg)
    host_state = jax.device_get(state0)
    runs, boxes, row = [], {}, {"arch": arch, "batch": batch, "reps": reps, "steps": steps,
                                "conv_impl": engine.conv.chosen}
    for policy in POLICIES:
        step = jax.jit(precision.with_precision(policy, functools.partial(train_step, engine.model)),
                       donate_argnums=0)
        t0 = time.perf_counter()
        state, logs = step(jax.device_put(host_state), real)
        jax.block_until_ready((state, logs))
        row[f"{policy}_compile_s"] = time.perf_counter() - t0
        first = [{k: float(v) for k, v in logs.items()}]
        state, logs = step(state, real)  # the step's own output sharding may differ from device_put's: compiled here
        jax.block_until_ready((state, logs))
        boxes[policy] = {"state": state, "losses": first + [logs]}

        def run(step=step, box=boxes[policy]):
            t = time.perf_counter()
            for _ in range(steps):
                box["state"], out = step(box["state"], real)
                box["losses"].append(out)
            jax.block_until_ready(box["state"])
            return time.perf_counter() - t
        runs.append(run)
    times = interleaved(runs, reps)
    ref = boxes["float32"]
    for policy, t in zip(POLICIES, times):
        med = statistics.median(t) / steps
        box = boxes[policy]
        losses = [{k: float(v) for k, v in out.items()} for out in box["losses"]]
        ref_losses = [{k: float(v) for k, v in out.items()} for out in ref["losses"]]
        drift = max((abs(a[k] - b[k]) / max(abs(b[k]), 1e-6) for a, b in zip(losses, ref_losses) for k in b
                     if k in ("d_loss", "g_loss")), default=0.0)
        params = jax.tree_util.tree_leaves((box["state"].g.params, box["state"].d.params))
        ref_params = jax.tree_util.tree_leaves((ref["state"].g.params, ref["state"].d.params))
        row.update({f"{policy}_step_s": med, f"{policy}_img_s": batch / med, f"{policy}_times": t,
                    f"{policy}_max_rel_loss_drift": drift,
                    f"{policy}_max_abs_param_drift": max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                                                         for a, b in zip(params, ref_params))})
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", default="dcgan,sndcgan,resnet_cifar")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=5, help="steps per repetition")
    p.add_argument("--json", help="write all figures to this file (atomically)")
    args = p.parse_args(argv)
    nets = [n for n in args.nets.split(",") if n]
    unknown = sorted(set(nets) - set(D_NORM))
    if unknown:
        raise ValueError(f"--nets: unknown {unknown}; choose from {sorted(D_NORM)}")
    if min(args.batch, args.reps, args.steps) < 1:
        raise ValueError("--batch, --reps and --steps must be >= 1")
    info = machine_info()
    print(json.dumps(info))
    rows = []
    print(f"{'net':13s} " + " ".join(f"{p + ' img/s':>13s}" for p in POLICIES) + " "
          + " ".join(f"{p + ' loss drift':>17s}" for p in POLICIES[1:]))
    for arch in nets:
        r = bench_net(arch, args.batch, args.reps, args.steps)
        rows.append(r)
        print(f"{arch:13s} " + " ".join(f"{r[p + '_img_s']:13.1f}" for p in POLICIES) + " "
              + " ".join(f"{r[p + '_max_rel_loss_drift']:17.1e}" for p in POLICIES[1:]), flush=True)
        if args.json:  # after every row: a run stopped by a time limit keeps what it measured
            write_json(args.json, {"machine": info, "command": " ".join(sys.argv), "precision": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
