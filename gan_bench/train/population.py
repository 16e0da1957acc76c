"""Trials and populations: gin configs in, self-describing folders out, failures recorded in them.

`run_population` checks every member's configuration and that the members may share one compiled step
(`config.population_key`) before anything is built, then hands them to the loop; any error during the run is
written to each unfinished member's status.json as `failed` before it is raised, so a sweep sees it.
`run_trial` is the population of one.
"""
import os
from typing import List, Optional, Sequence

import gin

from gan_bench import checkpoint
from gan_bench.config import member_fields, parse_config, population_key
from gan_bench.gan.schedules import continue_problem
from gan_bench.outputs import FINAL_STATES, clear_status, read_status, write_status
from gan_bench.train.engine import Engine
from gan_bench.train.loop import Member, run_members


def _parse_member(gin_files, gin_bindings):
    """The member's checked config and its gin text (every binding as parsed: what config.gin records)."""
    cfg = parse_config(gin_files, gin_bindings)
    return cfg, gin.config_str()


def run_trial(workdir: str, gin_files: Sequence[str] = (), gin_bindings: Sequence[str] = (),
              continue_to: Optional[int] = None) -> dict:
    """Run (or resume) one trial; see the package docstring. Returns the final status.

    `continue_to`: train to that many steps (`trial.train_steps = continue_to` after the bindings), a trial
    already done at fewer steps included: it resumes from its last checkpoint, and as batches and noise are
    functions of (seed, step), ends with the state an uninterrupted run of `continue_to` steps would have.
    """
    if continue_to is not None:
        status = read_status(workdir)
        if status and status["state"] == "done" and status["step"] >= continue_to:
            raise ValueError(f"--continue_to {continue_to}: trial {workdir} is done at step {status['step']}; "
                             f"expected a larger number of steps")
        gin_bindings = list(gin_bindings) + [f"trial.train_steps = {int(continue_to)}"]
        problem = status and continue_problem(parse_config(gin_files, gin_bindings).lr_schedule)
        if problem:
            raise ValueError(f"--continue_to {continue_to}: trial {workdir} has run: {problem}")
        if status and status["state"] == "done":
            clear_status(workdir)  # done at fewer steps: resumed from its last checkpoint like an interrupted run
    return run_population([workdir], [gin_files], [gin_bindings], stacked=False)[0]


def run_population(workdirs: Sequence[str], gin_files: Sequence[Sequence[str]],
                   gin_bindings: Sequence[Sequence[str]], stacked: bool = True) -> List[dict]:
    """Run (or resume) several trials that share shapes in one vmapped step; returns their statuses.

    Members already done or diverged are left as they are. Configuration errors raise ValueError before
    any compute (and mark the members failed); members that differ in more than seed and traced
    hyperparameters are refused. Any exception during training is recorded as status `failed` (with the
    error) in every unfinished member's folder and re-raised; an interrupt leaves folders resumable.
    """
    statuses = [read_status(w) for w in workdirs]
    todo = [i for i, s in enumerate(statuses) if not (s and s["state"] in FINAL_STATES)]
    if not todo:
        return statuses
    for i in todo:
        os.makedirs(workdirs[i], exist_ok=True)
    try:
        members = []
        for i in todo:
            cfg, text = _parse_member(gin_files[i], gin_bindings[i])
            members.append(Member(workdirs[i], cfg, text))
        key = population_key(members[0].cfg, members[0].config_text)
        for m in members[1:]:
            if population_key(m.cfg, m.config_text) != key:
                raise ValueError(f"trial {m.workdir} cannot join the population of {members[0].workdir}: "
                                 f"they differ in more than {sorted(member_fields())}")
        for m in members:
            clear_status(m.workdir)  # a rerun of a failed trial starts without the old failure on record
        # One member left (the others finished before a restart) runs unstacked: a vmapped step over one
        # member ran at 0.64-0.96x the solo step's speed on CPU (BENCHMARKS.md), for the same numbers.
        engine = Engine(members[0].cfg, len(members), stacked and len(members) > 1,
                        workdirs=[m.workdir for m in members])
        results = run_members(engine, members)
    except Exception as e:
        for i in todo:
            steps = checkpoint.list_steps(os.path.join(workdirs[i], "ckpt"))
            write_status(workdirs[i], "failed", steps[-1] if steps else 0, error=f"{type(e).__name__}: {e}")
        raise
    for i, status in zip(todo, results):
        statuses[i] = status
    return statuses
