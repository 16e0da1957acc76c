"""`gan-bench` command line: thin argument parsing over the importable functions of each module.

  gan-bench train   --gin_file F [--gin_file F2] [--gin_binding 'k=v']... --workdir DIR
  gan-bench sweep   FILE --results DIR [--executor local|ray|slurm] [--workers N] [--max_trials K] [--dry_run]
  gan-bench status  DIR [--verify]
  gan-bench report  DIR [DIR...] --out OUT [--metric modes_covered,fid]
  gan-bench eval    --workdir DIR [--metrics fid,kid]
  gan-bench metrics --real A --fake B --metrics fid,kid,...
  gan-bench stats   --gin_file F [--gin_binding 'k=v']... [--split train|test]
"""
import argparse
import json
import logging
import os
import sys


def _setup_logging():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")


def cmd_train(args):
    from gan_bench import parallel, trial  # pylint: disable=import-outside-toplevel
    from gan_bench.jax_cache import enable_compilation_cache  # pylint: disable=import-outside-toplevel

    parallel.maybe_initialize_distributed()
    if not args.no_compilation_cache:
        enable_compilation_cache()
    status = trial.run_trial(args.workdir, args.gin_file, args.gin_binding)
    print(json.dumps(status, indent=1, sort_keys=True))
    return 0 if status["state"] == "done" else 1


def cmd_sweep(args):
    from gan_bench.sweep import sweep_main  # pylint: disable=import-outside-toplevel

    if not args.dry_run:
        os.environ.setdefault("GAN_BENCH_JAX_CACHE", os.path.join(args.results, ".jax_cache"))
    options = {k: getattr(args, k) for k in _EXECUTOR_FLAGS[args.executor] if getattr(args, k) is not None}
    summary = sweep_main(args.sweep_file, args.results, executor=args.executor, workers=args.workers,
                         max_trials=args.max_trials, dry_run=args.dry_run, population=args.population,
                         lease_ttl=args.lease_ttl, **options)
    return 1 if summary.get("failed") else 0


# Executor-specific flags (gan_bench.sweep executors' options), passed only to the executor that takes them.
_EXECUTOR_FLAGS = {
    "local": (),
    "ray": ("address", "cpus_per_trial", "gpus_per_trial"),
    "slurm": ("cluster", "partition", "timeout_min", "cpus_per_task", "gpus_per_node", "mem_gb",
              "array_parallelism"),
}


def cmd_status(args):
    from gan_bench.sweep import store  # pylint: disable=import-outside-toplevel

    summary = store.summarize(args.results_dir, verify=args.verify)
    print(store.format_summary(args.results_dir, summary))
    return 1 if summary["corrupt"] else 0


def cmd_report(args):
    from gan_bench.report import report_main  # pylint: disable=import-outside-toplevel

    written = report_main(args.results_dirs, args.out, metric=args.metric, which=args.which)
    print(json.dumps(written, indent=1, default=str))
    return 0


def cmd_eval(args):
    from gan_bench import evaluate_trial  # pylint: disable=import-outside-toplevel

    row = evaluate_trial.evaluate_workdir(args.workdir, args.metrics.split(",") if args.metrics else None)
    print(json.dumps(row, indent=1, sort_keys=True))
    return 0


def cmd_metrics(args):
    from gan_bench.metrics.cli_metrics import metrics_main  # pylint: disable=import-outside-toplevel

    result = metrics_main(args.real, args.fake, args.metrics.split(","), args.out)
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


def cmd_stats(args):
    from gan_bench.metrics.reference_stats import stats_main  # pylint: disable=import-outside-toplevel

    result = stats_main(args.gin_file, args.gin_binding, args.split)
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


_STATS_HELP = """Compute and cache the Inception statistics of the real images a trial configured by the gin
files evaluates against: the first trial.eval_num_samples images of the split, extracted under the bound
inception_features.* (resize, precision). Every trial and evaluation with the same images and protocol then
reads them from the cache (<cache root>/reference_stats/, the cache root being $GAN_BENCH_CACHE or
~/.cache/gan_bench) instead of extracting them. A cached file that does not match its key is recomputed.
Prints the cache path, the protocol record and whether the file was already there."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gan-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="run or resume one trial")
    t.add_argument("--gin_file", action="append", default=[], help="gin file (repeatable, in order)")
    t.add_argument("--gin_binding", action="append", default=[], help="gin binding 'k = v' (repeatable)")
    t.add_argument("--workdir", required=True)
    t.add_argument("--no_compilation_cache", action="store_true")
    t.set_defaults(fn=cmd_train)

    s = sub.add_parser("sweep", help="expand a sweep file and run its trials")
    s.add_argument("sweep_file")
    s.add_argument("--results", required=True)
    s.add_argument("--executor", default="local", choices=["local", "ray", "slurm"])
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--max_trials", type=int, default=None)
    s.add_argument("--population", type=int, default=1)
    s.add_argument("--dry_run", action="store_true")
    s.add_argument("--lease_ttl", type=float, default=300.0,
                   help="seconds after which a dead worker's claim on a trial may be taken over")
    s.add_argument("--address", default=None, help="ray: address of a running cluster (default: start one)")
    s.add_argument("--cpus_per_trial", type=float, default=None, help="ray: CPUs per task")
    s.add_argument("--gpus_per_trial", type=float, default=None, help="ray: GPUs per task")
    s.add_argument("--cluster", default=None, help="slurm: submitit cluster (slurm | local | debug)")
    s.add_argument("--partition", default=None, help="slurm: partition")
    s.add_argument("--timeout_min", type=int, default=None, help="slurm: time limit per job, minutes")
    s.add_argument("--cpus_per_task", type=int, default=None, help="slurm: CPUs per task")
    s.add_argument("--gpus_per_node", type=int, default=None, help="slurm: GPUs per node")
    s.add_argument("--mem_gb", type=int, default=None, help="slurm: memory per job, GB")
    s.add_argument("--array_parallelism", type=int, default=None, help="slurm: max array tasks at once")
    s.set_defaults(fn=cmd_sweep)

    st = sub.add_parser("status", help="counts of pending/running/dead/stale/done/diverged/failed trials")
    st.add_argument("results_dir")
    st.add_argument("--verify", action="store_true",
                    help="also read every checkpoint of the finished trials and report corrupt ones (exit 1)")
    st.set_defaults(fn=cmd_status)

    r = sub.add_parser("report", help="tables and figures from results folders")
    r.add_argument("results_dirs", nargs="+")
    r.add_argument("--out", required=True)
    r.add_argument("--metric", default=None,
                   help="metric(s) that rank the rows of their tables, comma-separated (default: every metric "
                        "found is reported, each table ranked by its usual metric)")
    r.add_argument("--which", default="final", choices=["final", "best"],
                   help="each trial's last evaluation (final) or its best one per metric (best)")
    r.set_defaults(fn=cmd_report)

    e = sub.add_parser("eval", help="evaluate a trained trial's final checkpoint")
    e.add_argument("--workdir", required=True)
    e.add_argument("--metrics", default=None, help="comma-separated; default: the trial's trial.metrics")
    e.set_defaults(fn=cmd_eval)

    m = sub.add_parser("metrics", help="metrics between two image folders or .npz files")
    m.add_argument("--real", required=True)
    m.add_argument("--fake", required=True)
    m.add_argument("--metrics", default="fid")
    m.add_argument("--out", default=None, help="write the result as JSON here")
    m.set_defaults(fn=cmd_metrics)

    sc = sub.add_parser("stats", help="precompute the real images' Inception statistics a trial will use",
                        description=_STATS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sc.add_argument("--gin_file", action="append", default=[], metavar="FILE",
                    help="the trial's gin file (repeatable, as for train)")
    sc.add_argument("--gin_binding", action="append", default=[], metavar="'KEY = VALUE'",
                    help="gin binding (repeatable), e.g. \"inception_features.resize = 'clean'\"")
    sc.add_argument("--split", default=None, metavar="SPLIT",
                    help="dataset split, e.g. train or test (default: the trial's trial.eval_split)")
    sc.set_defaults(fn=cmd_stats)
    return p


def main(argv=None) -> int:
    _setup_logging()
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ValueError as e:  # configuration and input errors: one clear line, no traceback
        print(f"gan-bench {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
