"""One-screen summary of a `benchmarks/gpu_check.sh` run: reads OUTDIR's stage JSONs and logs, prints the
figures, and writes them to OUTDIR/summary.json (atomically).

  python3 benchmarks/gpu_summary.py OUTDIR [--seconds S] [--tiny 0|1]
"""
import argparse
import json
import os
import re
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

from gan_bench.atomic import atomic_write_json  # noqa: E402


def _load(folder: str, name: str):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _fmt(x, spec=".2f") -> str:
    return "-".rjust(len(format(0.0, spec))) if x is None else format(x, spec)


def stages(folder: str) -> list:
    path = os.path.join(folder, "stages.tsv")
    rows = []
    if os.path.exists(path):
        for line in open(path):
            name, state, seconds, what = (line.rstrip("\n").split("\t") + ["", "", ""])[:4]
            rows.append({"stage": name, "state": state, "seconds": int(seconds or 0), "command": what})
    return rows


def pytest_result(folder: str, name: str):
    """pytest's final line ('12 passed in 3.4s', '1 failed, ...') from NAME.log, or None."""
    path = os.path.join(folder, f"{name}.log")
    if not os.path.exists(path):
        return None
    found = [line.strip("= \n") for line in open(path) if re.search(r"\d+ (passed|failed|error)", line)]
    return found[-1] if found else None


def summarize(folder: str, seconds, tiny: bool) -> tuple:
    lines, summary = [], {"outdir": folder, "seconds": seconds, "tiny": tiny, "stages": stages(folder)}
    machine = None
    step = _load(folder, "train_step.json")
    if step:
        machine = step["machine"]
        summary["train_step"] = [{k: r.get(k) for k in ("arch", "batch", "n_disc", "conv_impl", "compile_s",
                                                        "torch_compile_s", "jax_img_s", "torch_img_s",
                                                        "torch_compiled_img_s", "ratio", "ratio_vs_compiled",
                                                        "notes")} for r in step["train_step"]]
    pop = _load(folder, "population.json")
    if pop:
        machine = machine or pop["machine"]
        summary["population"] = [{k: r.get(k) for k in ("net", "conv_impl", "P", "batch",
                                                        "population_member_steps_s", "sequential_member_steps_s",
                                                        "speedup", "population_peak_bytes", "solo_peak_bytes",
                                                        "largest_P_estimate", "population_tflop_s",
                                                        "solo_tflop_s")} for r in pop["population"]]
    kurach = _load(folder, "population_kurach.json")
    if kurach:
        machine = machine or kurach["machine"]
        summary["population_kurach"] = [{k: r.get(k) for k in ("net", "conv_impl", "P", "batch", "n_disc", "speedup",
                                                                "population_trials_per_hour",
                                                                "sequential_trials_per_hour", "trial_steps")}
                                        for r in kurach["population"]]
    calls = _load(folder, "steps_per_call.json")
    if calls:
        machine = machine or calls["machine"]
        summary["steps_per_call"] = {"population": calls["population"], "bindings": calls["bindings"],
                                     "rows": [{k: r.get(k) for k in ("steps_per_call", "compile_s", "steps_s",
                                                                     "member_steps_s", "speedup", "load_ms_per_step")}
                                              for r in calls["steps_per_call"]]}
    policies = _load(folder, "precision.json")
    if policies:
        summary["precision"] = [{k: v for k, v in r.items() if not k.endswith("_times")} for r in policies["precision"]]
    for precision in ("tf32", "float32"):
        fid = _load(folder, f"fid_{precision}.json")
        if fid and "extract" in fid:
            ex = fid["extract"]
            summary[f"fid_{precision}"] = {"images_per_s": ex["images_per_s"],
                                           "ratio": ex["ratio_gan_bench_over_torch"],
                                           "first_batch_s": ex["first_batch_s"], "max_rel_error": ex["max_rel_error"]}
    fid_precision = _load(folder, "fid_precision.json")
    if fid_precision:
        machine = machine or fid_precision["machine"]
        summary["fid_precision"] = [{k: r[k] for k in ("precision", "fid", "rel_diff_vs_float32", "fid_seconds", "n")}
                                    for r in fid_precision["fid_precision"]]
    fid_cache = _load(folder, "fid_cache.json")
    if fid_cache:
        machine = machine or fid_cache["machine"]
        summary["fid_cache"] = {r["cache"]: {"first_step_s": r["since_start_s"], "process_s": r["process_s"],
                                             "images": r["images"]} for r in fid_cache["cache"]}
    cache = _load(folder, "cache.json")
    if cache:
        summary["cache"] = {r["cache"]: {"first_step_s": r["first_step_s"], "process_s": r["process_s"]}
                            for r in cache["cache"]}
    summary["tests"] = {name: pytest_result(folder, name) for name in ("precision_tests", "numerics")}
    summary["machine"] = machine

    title = "gan_bench GPU check" + (" (--tiny: tiny sizes, not figures)" if tiny else "")
    lines.append(f"{title}: {seconds} s" if seconds is not None else title)
    if machine:
        lines.append(f"machine: {machine.get('torch_gpu') or ', '.join(machine.get('devices', []))}; "
                     f"jax {machine.get('jax')}, torch {machine.get('torch', '-')}, precision {machine.get('precision')}")
    lines.append("stages: " + ", ".join(f"{s['stage']} {s['state']} ({s['seconds']} s)" for s in summary["stages"]))
    if "train_step" in summary:
        lines.append(f"{'train step (img/s)':30s} {'jax':>9s} {'torch':>9s} {'compiled':>9s} {'jax/torch':>9s} "
                     f"{'jax/compiled':>12s}")
        for r in summary["train_step"]:
            what = f"{r['arch']} B {r['batch']}, n_disc {r['n_disc']}"  # biggan runs its preset's 50 and 4
            lines.append(f"  {what:28s} {_fmt(r['jax_img_s'], '9.1f')} {_fmt(r['torch_img_s'], '9.1f')} "
                         f"{_fmt(r['torch_compiled_img_s'], '9.1f')} {_fmt(r['ratio'], '9.2f')} "
                         f"{_fmt(r['ratio_vs_compiled'], '12.2f')}" + "".join(f"  [{n}]" for n in r["notes"]))
    if "population" in summary:
        lines.append(f"population (member-steps/s)  {'P':>3s} {'vmapped':>9s} {'solo':>9s} {'speed-up':>8s} "
                     f"{'GB P / solo':>13s} {'max P':>6s} {'TFLOP/s P / solo':>17s}")
        for r in summary["population"]:
            gb = [None if r.get(k) is None else r[k] / 1e9 for k in ("population_peak_bytes", "solo_peak_bytes")]
            lines.append(f"  {r['net']:13s} {r['conv_impl']:10s} {r['P']:3d} "
                         f"{_fmt(r['population_member_steps_s'], '9.2f')} {_fmt(r['sequential_member_steps_s'], '9.2f')} "
                         f"{_fmt(r['speedup'], '8.2f')} {_fmt(gb[0], '6.2f')} / {_fmt(gb[1], '<4.2f')} "
                         f"{'-' if r.get('largest_P_estimate') is None else r['largest_P_estimate']:>6} "
                         f"{_fmt(r.get('population_tflop_s'), '8.3f')} / {_fmt(r.get('solo_tflop_s'), '<8.3f')}")
    for r in summary.get("population_kurach", []):
        lines.append(f"trials/hour, {r['net']} B {r['batch']} n_disc {r['n_disc']}, {r['trial_steps']} steps "
                     f"({r['conv_impl']}): population P = {r['P']} {_fmt(r['population_trials_per_hour'], '.2f')}, "
                     f"one after another {_fmt(r['sequential_trials_per_hour'], '.2f')} (x{_fmt(r['speedup'])})")
    if "steps_per_call" in summary:
        calls = summary["steps_per_call"]
        lines.append(f"steps per call, PacGAN MLP, P = {calls['population']} ({', '.join(calls['bindings'])}): "
                     + ", ".join(f"K={r['steps_per_call']} {_fmt(r['member_steps_s'], '.0f')} member-steps/s "
                                 f"(x{_fmt(r['speedup'])}, load {_fmt(r['load_ms_per_step'])} ms/step)"
                                 for r in calls["rows"]))
    if "precision" in summary:
        lines.append(f"trial.precision (img/s)  {'float32':>8s} {'tf32':>8s} {'bf16':>8s} {'tf32 drift':>10s} {'bf16 drift':>10s}")
        for r in summary["precision"]:
            lines.append(f"  {r['arch']:21s} {r['float32_img_s']:8.1f} {r['tf32_img_s']:8.1f} {r['bf16_img_s']:8.1f} "
                         f"{r['tf32_max_rel_loss_drift']:10.1e} {r['bf16_max_rel_loss_drift']:10.1e}")
    for precision in ("tf32", "float32"):
        fid = summary.get(f"fid_{precision}")
        if fid:
            lines.append(f"FID extraction {precision}: gan_bench {fid['images_per_s']['gan_bench']:.1f} img/s, "
                         f"torch {fid['images_per_s']['torch']:.1f} img/s, ratio {fid['ratio']:.2f}; first batch "
                         f"{fid['first_batch_s']['gan_bench']:.1f} s; max rel. error pool3 "
                         f"{fid['max_rel_error']['pool3']:.1e}")
    if "cache" in summary:
        lines.append("first batch: " + ", ".join(f"{k} cache {v['first_step_s']:.1f} s (process {v['process_s']:.1f} s)"
                                                 for k, v in summary["cache"].items()))
    if "fid_precision" in summary:
        rows = summary["fid_precision"]
        lines.append(f"FID {rows[0]['n']} vs {rows[0]['n']} (random weights) by precision: " + ", ".join(
            f"{r['precision']} {r['fid']:.4f} (rel {r['rel_diff_vs_float32']:.1e}, {r['fid_seconds']:.1f} s)"
            for r in rows))
    if "fid_cache" in summary:
        lines.append("FID Inception, first batch from process start: " + ", ".join(
            f"{k} cache {v['first_step_s']:.1f} s (process {v['process_s']:.1f} s)"
            for k, v in summary["fid_cache"].items()))
    lines.append("tests: " + ", ".join(f"{k}: {v or 'no result'}" for k, v in summary["tests"].items()))
    return lines, summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir")
    p.add_argument("--seconds", type=int, help="wall time of the whole check")
    p.add_argument("--tiny", type=int, default=0)
    args = p.parse_args(argv)
    if not os.path.isdir(args.outdir):
        raise ValueError(f"gpu_summary: {args.outdir} is not a folder")
    lines, summary = summarize(os.path.abspath(args.outdir), args.seconds, bool(args.tiny))
    print("\n".join(lines))
    atomic_write_json(os.path.join(args.outdir, "summary.json"), summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
