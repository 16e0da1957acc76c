"""Sweeps: expand a gin sweep file into trials and run them with an executor; report their status.

    sweep_main("sweeps/quickstart.gin", "results/quickstart", workers=2)   # gan-bench sweep ... --workers 2
    status_main("results/quickstart")                                      # gan-bench status ...

The sweep file format is documented in sweeps/README.md; the results folder layout in store.py.
Executors: `local` (worker processes on this machine), `ray` (a Ray task per unit), `slurm` (one submitit
job array per sweep). A unit is one trial, or with `population > 1` up to that many trials that differ only
in seed and traced hyperparameters, trained together by `gan_bench.train.run_population`; with population
'auto', as many of them as fit one worker's memory (gan_bench.sweep.sizing).
"""
import dataclasses
import inspect
import json
import logging
import os
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Union

from gan_bench.checks import is_whole
from gan_bench.sweep import store
from gan_bench.sweep.spec import Trial, expand_sweep, load_sweep  # noqa: F401  (public API)

log = logging.getLogger("gan_bench")
EXECUTORS = ("local", "ray", "slurm")


def population_keys(trials: List[Trial]) -> List:
    """For each trial, the key under which trials may share one compiled step (gan_bench.config.population_key)."""
    import gin  # pylint: disable=import-outside-toplevel
    from gan_bench.config import parse_config, population_key  # pylint: disable=import-outside-toplevel

    keys = []
    for t in trials:
        cfg = parse_config(t.gin_files, t.gin_bindings)
        keys.append(population_key(cfg, gin.config_str()))
    return keys


def group_trials(trials: List[Trial], keys: Optional[List] = None) -> "OrderedDict[str, List[Trial]]":
    """The trials by population key (repr), groups and trials in the sweep's order."""
    keys = population_keys(trials) if keys is None else keys
    groups: "OrderedDict[str, List[Trial]]" = OrderedDict()
    for key, t in zip(keys, trials):
        groups.setdefault(repr(key), []).append(t)
    return groups


def split_groups(groups: "OrderedDict[str, List[Trial]]", population: int = 1,
                 sizes: Optional[Dict[str, int]] = None) -> List[List[Trial]]:
    """Each group cut into units of at most its size in `sizes` (default `population`) trials."""
    sizes = sizes or {}
    return [g[i:i + p] for key, g in groups.items() for p in [sizes.get(key, population)]
            for i in range(0, len(g), p)]


def make_units(trials: List[Trial], population: int = 1, keys: Optional[List] = None) -> List[List[Trial]]:
    """Group trials into units of at most `population` trials with equal keys, keeping the sweep's order."""
    if population < 1:
        raise ValueError(f"population must be >= 1, got {population}")
    if population == 1:
        return [[t] for t in trials]
    return split_groups(group_trials(trials, keys), population)


def dry_run_listing(sweep_file: str, results: str, trials: List[Trial]) -> str:
    """One line per trial: id, current state in `results`, and the sweep-chosen bindings."""
    lines = [f"{len(trials)} trials from {sweep_file} (results: {results})"]
    for t in trials:
        state = store.trial_state(store.trial_dir(results, t.id))
        lines.append(f"{t.id}  {state:8s}  {json.dumps(t.bindings, sort_keys=True)}")
    return "\n".join(lines)


def _executor(name: str, results: str, workers: int, trial_fn, population_fn, lease_ttl: float, options: Dict):
    if name == "local":
        from gan_bench.sweep.local import LocalExecutor as cls  # pylint: disable=import-outside-toplevel
    elif name == "ray":
        from gan_bench.sweep.ray_executor import RayExecutor as cls  # pylint: disable=import-outside-toplevel
    elif name == "slurm":
        from gan_bench.sweep.slurm_executor import SlurmExecutor as cls  # pylint: disable=import-outside-toplevel
    else:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    known = set(inspect.signature(cls).parameters)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"executor {name!r} has no option(s) {unknown}; it takes {sorted(known - {'results'})}")
    return cls(results, workers=workers, trial_fn=trial_fn, population_fn=population_fn, lease_ttl=lease_ttl,
               **options)


def sweep_main(sweep_file: str, results: str, executor: str = "local", workers: int = 1,
               max_trials: Optional[int] = None, dry_run: bool = False, population: Union[int, str] = 1,
               trial_fn="gan_bench.train:run_trial", population_fn="gan_bench.train:run_population",
               lease_ttl: float = 300.0, print_fn=print, population_memory: Optional[int] = None,
               continue_to: Optional[int] = None, **executor_options) -> Dict:
    """Expand, validate and run (or with `dry_run` only list) a sweep; returns the results summary.

    Starting it again skips done/diverged trials and resumes the rest. Several sweep processes (or hosts)
    may run on the same `results` at once: leases keep each trial to one worker. `population`: at most that
    many trials in one vmapped step, or 'auto': for each group of trials that may share a step, as many as fit
    one worker's memory (gan_bench.sweep.sizing; `population_memory`: that memory in bytes instead of
    measuring it). `continue_to`: train every trial to that many steps under the same ids: trials done at
    fewer steps resume from their last checkpoint, and end as an uninterrupted run of that length would (see
    `gan_bench.train.run_trial`); the sweep file must be the one the trials were run from. `executor_options`
    go to the executor (ray: address, cpus_per_trial, gpus_per_trial;
    slurm: cluster, partition, timeout_min, cpus_per_task, gpus_per_node, mem_gb, array_parallelism,
    additional_parameters, wait).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    auto = population == "auto"
    if not auto and not is_whole(population):
        raise ValueError(f"population must be a number of trials or 'auto', got {population!r}")
    if workers < 1 or (not auto and population < 1) or (max_trials is not None and max_trials < 1):
        raise ValueError(f"workers, population and max_trials must be >= 1, got {workers}, {population}, {max_trials}")
    if auto and executor != "local":
        raise ValueError(f"population 'auto' measures the memory of this machine's devices, but the {executor} "
                         f"executor runs trials elsewhere: give a number (python -m gan_bench.train.population_size "
                         f"on a worker machine prints the largest that fits)")
    if population_memory is not None and (not auto or population_memory <= 0):
        raise ValueError(f"population_memory ({population_memory}) is the memory 'auto' sizes populations for: "
                         f"expected a positive number of bytes with population 'auto', got population {population!r}")
    if lease_ttl <= 0:
        raise ValueError(f"lease_ttl must be > 0 seconds, got {lease_ttl}")
    if continue_to is not None and (not is_whole(continue_to) or continue_to < 1):
        raise ValueError(f"continue_to must be a positive number of steps, got {continue_to!r}")
    if os.path.exists(results) and not os.path.isdir(results):
        raise ValueError(f"results {results} is an existing file; expected a folder for the sweep's trials")
    trials = expand_sweep(sweep_file, max_trials=max_trials, validate=True)
    if dry_run:
        print_fn(dry_run_listing(sweep_file, results, trials))
        return {"trials": [t.record() for t in trials]}
    runner = _executor(executor, results, workers, trial_fn, population_fn, lease_ttl, executor_options)
    store.write_records(results, (t.record() for t in trials))  # the sweep's own bindings, as expanded
    if continue_to is not None:
        trials = continued(results, trials, continue_to, lease_ttl)
    if auto:
        from gan_bench.sweep import sizing  # pylint: disable=import-outside-toplevel
        groups = group_trials(sizing.unfinished(results, trials))
        units = split_groups(groups, 1, sizing.auto_sizes(results, groups, workers, population_memory))
    else:
        units = make_units(trials, population)
    log.info("sweep %s: %d trials in %d units -> %s (%s executor, %d workers)", sweep_file, len(trials),
             len(units), results, executor, workers)
    runner.run(units, sweep_progress(results, trials, workers, print_fn))
    summary = store.summarize(results)
    print_fn(store.format_summary(results, summary))
    return summary


def continued(results: str, trials: List[Trial], steps: int, lease_ttl: float) -> List[Trial]:
    """The trials with `trial.train_steps = steps` bound last (their ids unchanged), those done at fewer steps
    reopened (store.reopen_done). Refused, before any trial is touched, when a trial that has run follows a
    learning-rate schedule of its length (gan/schedules.py: it could not end as an uninterrupted run)."""
    refused = _not_continuable(results, trials)
    if refused:
        raise ValueError(f"--continue_to {steps}: cannot continue {len(refused)} trial(s): " + "; ".join(refused))
    owner = f"continue:{os.uname().nodename}:{os.getpid()}"
    reopened, reached = store.reopen_done([store.trial_dir(results, t.id) for t in trials], steps, owner,
                                          lease_ttl)
    log.info("continue to %d steps: %d done trials reopened, %d already at %d steps or more", steps,
             len(reopened), len(reached), steps)
    return [dataclasses.replace(t, gin_bindings=tuple(t.gin_bindings) + (f"trial.train_steps = {steps}",))
            for t in trials]


def _not_continuable(results: str, trials: List[Trial]) -> List[str]:
    """'trial ID: why' for each trial that has run (it has a status) on a schedule of its own length."""
    from gan_bench.config import parse_config  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.schedules import continue_problem  # pylint: disable=import-outside-toplevel
    from gan_bench.outputs import read_status  # pylint: disable=import-outside-toplevel

    out = []
    for t in trials:
        try:
            started = read_status(store.trial_dir(results, t.id)) is not None
        except ValueError:
            started = True  # a damaged status: the trial has run
        problem = started and continue_problem(parse_config(t.gin_files, t.gin_bindings).lr_schedule)
        if problem:
            out.append(f"trial {t.id}: {problem}")
    return out


def sweep_progress(results: str, trials: List[Trial], workers: int, print_fn=print):
    """The progress display of a sweep (gan_bench.sweep.progress): a line per change and every 30 s on a
    terminal, one line per finished trial otherwise (and when `print_fn` is not `print`)."""
    from gan_bench.outputs import read_status  # pylint: disable=import-outside-toplevel
    from gan_bench.sweep.progress import Progress  # pylint: disable=import-outside-toplevel

    tty = print_fn is print and sys.stdout.isatty()
    emit = (lambda line: print(line, flush=True)) if print_fn is print else print_fn
    states = {}
    for t in trials:
        try:
            states[t.id] = (read_status(store.trial_dir(results, t.id)) or {}).get("state", "pending")
        except ValueError:
            states[t.id] = "pending"
    return Progress(states, workers, print_fn=emit, tty=tty)


def status_main(results_dir: str, verify: bool = False) -> str:
    """`gan-bench status DIR [--verify]`: counts of pending/running/dead/stale/done/diverged/failed trials, a line
    for each failed, dead or stale one and, with `verify`, for each corrupt checkpoint of a finished trial."""
    return store.format_summary(results_dir, store.summarize(results_dir, verify=verify))
