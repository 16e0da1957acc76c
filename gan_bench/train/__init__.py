"""Trials: a gin config in, a self-describing folder out; alone or as a population in one compiled step.

`run_trial(workdir, gin_files, gin_bindings)` parses and checks the configuration, builds data, networks and
the compiled step *before* any training, resumes from the newest checkpoint in `workdir`, trains with the
batch sharded over all devices, evaluates every `eval_every` steps, and writes `status.json` last. A run
killed at any point (SIGKILL included) is continued by running the same command again.

`run_population(workdirs, configs)` trains P trials that share shapes (same net, data, batch, loss, ...;
different seeds, learning rates, betas, penalty weights) with `jax.vmap` over a leading population axis.
Each member writes the same folder, with the same numbers (to float tolerance), as its solo run would.

  population.py  run_trial, run_population: configs checked, failures recorded
  loop.py        the step loop and its periodic actions (log, sample, eval, checkpoint), resume
  engine.py      model, convolution choice, sharded and compiled init and step, real batches
  evaluation.py  a member's samples and metrics (also used by `gan-bench eval`)
  writers.py     the metric writer (log line, metrics.jsonl, TensorBoard) and the run's rate timer
  prefetch.py    the thread that loads the next steps' batches
  population_size.py  the largest population whose compiled step fits a worker's memory (--population auto)
"""
from gan_bench.train.population import run_population, run_trial

__all__ = ["run_population", "run_trial"]
