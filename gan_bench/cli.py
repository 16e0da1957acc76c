"""`gan-bench` command line: thin argument parsing over the importable functions of each module.

  gan-bench train   --gin_file F [--gin_file F2] [--gin_binding 'k=v']... --workdir DIR
  gan-bench sweep   FILE --results DIR [--executor local|ray|slurm] [--workers N] [--max_trials K] [--dry_run]
  gan-bench status  DIR [--verify]
  gan-bench report  DIR [DIR...] --out OUT [--metric modes_covered,fid] [--mix_protocols]
  gan-bench eval    --workdir DIR [--metrics fid,kid]
  gan-bench metrics --real A --fake B --metrics fid,kid,...
  gan-bench stats   --gin_file F [--gin_binding 'k=v']... [--split train|test]

`gan-bench COMMAND --help` describes a command and each of its flags. A configuration or input error (a bad
gin key or value, a missing file or folder) is one line on stderr and exit status 2, before anything is
computed; `--debug` also prints its traceback. Progress goes to stderr as plain log lines.
"""
import argparse
import json
import logging
import os
import sys
import traceback

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _setup_logging():
    """gan_bench's progress at INFO; other libraries' (JAX, tfds, absl) only from WARNING."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("gan_bench").setLevel(logging.INFO)


def _check_folder_flag(flag: str, path: str) -> None:
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path} is an existing file; expected a folder (it is created if missing)")


def _compilation_cache(args) -> None:
    """JAX's persistent compilation cache, unless --no_compilation_cache: a second run of the same shapes (the
    next trial, the next `eval` of a checkpoint, FID's Inception network) loads its programs instead of
    compiling them again."""
    if not args.no_compilation_cache:
        from gan_bench.jax_cache import enable_compilation_cache  # pylint: disable=import-outside-toplevel
        enable_compilation_cache()


def _add_cache_flag(parser) -> None:
    parser.add_argument("--no_compilation_cache", action="store_true",
                        help="do not use JAX's persistent compilation cache (default: on)")


def cmd_train(args):
    _check_folder_flag("--workdir", args.workdir)
    from gan_bench import parallel  # pylint: disable=import-outside-toplevel
    from gan_bench.config import parse_config, unread_bindings  # pylint: disable=import-outside-toplevel
    from gan_bench.train import run_trial  # pylint: disable=import-outside-toplevel

    gin_files, gin_bindings = args.gin_file, args.gin_binding
    if args.continue_to is not None:
        gin_files = _continued_files(args)
        cfg = parse_config(gin_files, list(gin_bindings) + [f"trial.train_steps = {args.continue_to}"])
    else:
        cfg = parse_config(gin_files, gin_bindings)  # a bad config fails here, before the folder is made
    for key, why in unread_bindings(cfg).items():
        logging.getLogger("gan_bench").warning("gin key %s is bound but this trial does not read it: %s", key, why)
    parallel.maybe_initialize_distributed()
    _compilation_cache(args)
    status = run_trial(args.workdir, gin_files, gin_bindings, continue_to=args.continue_to)
    print(json.dumps(status, indent=1, sort_keys=True))
    return 0 if status["state"] == "done" else 1


def _continued_files(args) -> list:
    """--continue_to: the given configuration, or without --gin_file / --gin_binding the trial's own
    WORKDIR/config.gin (every binding it ran with)."""
    if args.continue_to < 1:
        raise ValueError(f"--continue_to {args.continue_to}: expected a positive number of steps")
    if args.gin_file or args.gin_binding:
        return args.gin_file
    recorded = os.path.join(args.workdir, "config.gin")
    if not os.path.isfile(recorded):
        raise ValueError(f"--continue_to: {recorded} does not exist; give the trial's --gin_file / --gin_binding "
                         f"or a WORKDIR written by train or sweep")
    return [recorded]


def cmd_sweep(args):
    _check_folder_flag("--results", args.results)
    from gan_bench.jax_cache import ENV_JAX_CACHE  # pylint: disable=import-outside-toplevel
    from gan_bench.sweep import sweep_main  # pylint: disable=import-outside-toplevel

    if not args.dry_run:
        os.environ.setdefault(ENV_JAX_CACHE, os.path.join(args.results, ".jax_cache"))
    options = {k: getattr(args, k) for k in _EXECUTOR_FLAGS[args.executor] if getattr(args, k) is not None}
    memory = None if args.population_memory is None else int(args.population_memory * 1e9)
    summary = sweep_main(args.sweep_file, args.results, executor=args.executor, workers=args.workers,
                         max_trials=args.max_trials, dry_run=args.dry_run, population=args.population,
                         population_memory=memory, continue_to=args.continue_to,
                         lease_ttl=args.lease_ttl, **options)
    return 1 if summary.get("failed") else 0


def _population_arg(text: str):
    """--population: a positive number of trials, or auto."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of trials or 'auto', got {text!r}")
    return value


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

    written = report_main(args.results_dirs, args.out, metric=args.metric, which=args.which,
                          mix_protocols=args.mix_protocols, at_step=args.at_step)
    print(json.dumps(written, indent=1, default=str))
    return 0


def cmd_eval(args):
    from gan_bench import evaluate_trial  # pylint: disable=import-outside-toplevel

    _compilation_cache(args)
    row = evaluate_trial.evaluate_workdir(args.workdir, args.metrics.split(",") if args.metrics else None)
    print(json.dumps(row, indent=1, sort_keys=True))
    return 0


def cmd_metrics(args):
    from gan_bench.metrics.cli_metrics import metrics_main  # pylint: disable=import-outside-toplevel

    _compilation_cache(args)
    result = metrics_main(args.real, args.fake, args.metrics.split(","), args.out)
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose epilog may be a function, called only when the help is shown (the metric
    names come from the metric registry, which imports JAX: every other use of the parser stays fast)."""

    def format_help(self):
        if callable(self.epilog):
            self.epilog = self.epilog()
        return super().format_help()


_TRAIN_HELP = """Run one trial in WORKDIR, or resume it.

The configuration is gin: --gin_file files in order, then --gin_binding lines; every `trial.*` key is a
field of TrialConfig (gan_bench/config.py), fragments are in gin_configs/. It is parsed and checked before
anything is built: a bad key or value is one line on stderr and exit status 2.

WORKDIR receives:
  config.gin      every binding, as parsed (what this trial ran with)
  metrics.jsonl   one JSON object per evaluation (every trial.eval_every steps and at the end)
  samples/        sample grids, step_XXXXXXX.png
  ckpt/           checkpoints (atomic, every trial.ckpt_every steps, the last trial.keep_ckpts kept)
  tb/             TensorBoard scalars and sample images
  status.json     written last: {"state": "done" | "diverged" | "failed", "step": n, ...}

Resume: run the same command on the same WORKDIR. Training continues from the newest checkpoint in ckpt/
(the steps after it are redone; batches are a pure function of (seed, step), so the result equals an
uninterrupted run). A WORKDIR whose status.json says done or diverged is left as it is; a failed one is
run again from its newest checkpoint. --continue_to N takes a done trial on to N steps: from its last
checkpoint, to the same state as an uninterrupted run of N steps.

Progress: every trial.log_every steps a log line on stderr with the step, the losses, steps/s and the ETA.
Exit status: 0 done, 1 diverged or failed, 2 configuration error."""

_SWEEP_HELP = """Expand a sweep file (format: sweeps/README.md) into trials and run them in RESULTS/<trial id>/.

Before anything runs, every trial is parsed and checked as the trial itself would check it (registered
names of losses, penalties, architectures, datasets and metrics, choices and ranges of every field), and
every value a random search may choose: all problems are listed, one line each, and the exit status is 2.
Running the same command again skips finished trials and resumes the others. The same command with
--continue_to N trains every trial on to N steps: those done at fewer steps resume from their last checkpoint,
under the same ids, and end where an uninterrupted run of N steps would."""

_EVAL_HELP = """Evaluate a trained trial: rebuild it from WORKDIR/config.gin, restore the newest checkpoint in
WORKDIR/ckpt/, generate trial.eval_num_samples samples and compute the metrics on them and on as many real
eval-split samples. The result is printed and written to WORKDIR/eval.json; metrics.jsonl is left as it is.
Each stage (checkpoint, samples, each metric) is logged on stderr as it starts."""


def _metrics_epilog() -> str:
    from gan_bench.metrics.cli_metrics import INPUTS_HELP  # pylint: disable=import-outside-toplevel
    from gan_bench.metrics.evaluate import METRICS  # pylint: disable=import-outside-toplevel

    return (f"metric names for --metrics (gan_bench.metrics.evaluate.METRICS):\n  {', '.join(METRICS.names())}\n"
            "  (modes_2d needs a 2-D mixture dataset and polygon_prf the generator: use them in trial.metrics\n"
            "  or `gan-bench eval`)\n\n" + INPUTS_HELP)


def _add_debug_flag(parser, default):
    parser.add_argument("--debug", action="store_true", default=default,
                        help="on an error, print the full traceback, not only the one-line message")


def cmd_stats(args):
    from gan_bench.metrics.reference_stats import stats_main  # pylint: disable=import-outside-toplevel

    _compilation_cache(args)
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
    p = _Parser(prog="gan-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_debug_flag(p, False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    t = sub.add_parser("train", help="run or resume one trial in a folder", description=_TRAIN_HELP,
                       formatter_class=raw)
    t.add_argument("--gin_file", action="append", default=[], metavar="FILE",
                   help="gin file (repeatable; parsed in order, later files override earlier ones)")
    t.add_argument("--gin_binding", action="append", default=[], metavar="'KEY = VALUE'",
                   help="gin binding, e.g. \"trial.loss = 'hinge'\" (repeatable; parsed after the files)")
    t.add_argument("--workdir", required=True, metavar="WORKDIR",
                   help="the trial folder (created if missing; an existing one is resumed)")
    _add_cache_flag(t)
    t.add_argument("--continue_to", type=int, default=None, metavar="N",
                   help="train to N steps, a trial already done at fewer included (resumed from its last "
                        "checkpoint; without --gin_file / --gin_binding, WORKDIR/config.gin is its configuration)")
    t.set_defaults(fn=cmd_train)

    s = sub.add_parser("sweep", help="check a sweep file, then run its trials (or list them: --dry_run)",
                       description=_SWEEP_HELP, formatter_class=raw)
    s.add_argument("sweep_file", help="a sweep gin file (format: sweeps/README.md)")
    s.add_argument("--results", required=True, metavar="RESULTS",
                   help="results folder: one sub-folder per trial (created if missing; shared by reruns)")
    s.add_argument("--executor", default="local", choices=["local", "ray", "slurm"],
                   help="where trials run: local worker processes, Ray tasks or a Slurm job array (default local)")
    s.add_argument("--workers", type=int, default=1,
                   help="trials (or populations) running at once on this machine (default 1)")
    s.add_argument("--max_trials", type=int, default=None, metavar="K",
                   help="only the first K trials of the expansion (grid point, random setting, seed order)")
    s.add_argument("--population", type=_population_arg, default=1, metavar="P",
                   help="train up to P trials that share shapes in one vmapped step (default 1: each alone); "
                        "auto: as many as fit one worker's memory, measured here (local executor)")
    s.add_argument("--population_memory", type=float, default=None, metavar="GB",
                   help="with --population auto: size populations for this much memory per worker (GB, 1e9 "
                        "bytes) instead of measuring it")
    s.add_argument("--continue_to", type=int, default=None, metavar="N",
                   help="train every trial of the sweep to N steps under the same ids: trials done at fewer steps "
                        "resume from their last checkpoint (give the sweep file they were run from)")
    s.add_argument("--dry_run", action="store_true",
                   help="check every trial and list them with their state in RESULTS; run and write nothing")
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
    r.add_argument("--mix_protocols", action="store_true",
                   help="when FID/IS/KID/PRD/PRDC were measured under several protocols (resize, sample sizes, "
                        "reference split, ...), write one table per protocol instead of refusing")
    r.add_argument("--at_step", type=int, default=None, metavar="N",
                   help="every trial as it stood at step N: only its evaluations at or before step N count")
    r.set_defaults(fn=cmd_report)

    e = sub.add_parser("eval", help="metrics of a trained trial's newest checkpoint (writes eval.json)",
                       description=_EVAL_HELP, formatter_class=raw)
    e.add_argument("--workdir", required=True, metavar="WORKDIR", help="a trial folder written by train or sweep")
    e.add_argument("--metrics", default=None,
                   help="comma-separated metric names (default: the trial's trial.metrics)")
    _add_cache_flag(e)
    e.set_defaults(fn=cmd_eval)

    m = sub.add_parser("metrics", help="metrics between two sets of images on disk (folders or .npz)",
                       description="Compute metrics of the --fake images against the --real images.",
                       epilog=_metrics_epilog, formatter_class=raw)
    m.add_argument("--real", required=True, metavar="PATH", help="the real images: an image folder or an .npz file")
    m.add_argument("--fake", required=True, metavar="PATH", help="the generated images: an image folder or an .npz file")
    m.add_argument("--metrics", default="fid", help="comma-separated metric names, listed below (default fid)")
    m.add_argument("--out", default=None, metavar="FILE", help="also write the result as JSON to FILE (atomically)")
    _add_cache_flag(m)
    m.set_defaults(fn=cmd_metrics)

    sc = sub.add_parser("stats", help="precompute the real images' Inception statistics a trial will use",
                        description=_STATS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sc.add_argument("--gin_file", action="append", default=[], metavar="FILE",
                    help="the trial's gin file (repeatable, as for train)")
    sc.add_argument("--gin_binding", action="append", default=[], metavar="'KEY = VALUE'",
                    help="gin binding (repeatable), e.g. \"inception_features.resize = 'clean'\"")
    sc.add_argument("--split", default=None, metavar="SPLIT",
                    help="dataset split, e.g. train or test (default: the trial's trial.eval_split)")
    _add_cache_flag(sc)
    sc.set_defaults(fn=cmd_stats)

    for command in sub.choices.values():  # `gan-bench train --debug ...` as well as `gan-bench --debug train ...`
        _add_debug_flag(command, argparse.SUPPRESS)
    return p


def _raised_by_gan_bench(error: BaseException) -> bool:
    """True when the innermost frame of the error is gan_bench code: a ValueError raised there is a checked
    user error; one raised inside a library (a shape mismatch in numpy or JAX) is an internal error."""
    tb = error.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging()
    try:
        return args.fn(args)
    except ValueError as e:  # configuration and input errors: one clear line each, no traceback
        if not _raised_by_gan_bench(e):
            raise
        if args.debug:
            traceback.print_exc()
        from gan_bench.config import one_line  # pylint: disable=import-outside-toplevel
        for line in getattr(e, "lines", None) or [one_line(e)]:
            print(f"gan-bench {args.command}: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
