"""`gan-bench eval --workdir DIR`: metrics of a trained trial's newest checkpoint.

The trial's own `config.gin` rebuilds the networks; the result is printed and written to `DIR/eval.json`
(atomically), leaving `metrics.jsonl` — the training-time record — untouched.
"""
import dataclasses
import os
from typing import Optional, Sequence

from gan_bench import checkpoint
from gan_bench.atomic import atomic_write_json
from gan_bench.config import parse_config
from gan_bench.outputs import jsonable
from gan_bench.trial import Engine, hparams_of


def evaluate_workdir(workdir: str, metrics: Optional[Sequence[str]] = None) -> dict:
    config_path = os.path.join(workdir, "config.gin")
    if not os.path.isfile(config_path):
        raise ValueError(f"{workdir} is not a trial folder: {config_path} is missing")
    cfg = parse_config([config_path])
    if metrics:
        cfg = dataclasses.replace(cfg, metrics=tuple(metrics))
    if not cfg.metrics:
        raise ValueError(f"no metrics to compute: pass --metrics or set trial.metrics in {config_path}")
    engine = Engine(cfg, members=1, stacked=False)
    state = checkpoint.restore_latest(os.path.join(workdir, "ckpt"), engine.init(cfg.seed, hparams_of(cfg)))
    if state is None:
        raise ValueError(f"{workdir} has no checkpoint in {os.path.join(workdir, 'ckpt')}")
    row = engine.evaluate(cfg, state, int(state.step), {})
    atomic_write_json(os.path.join(workdir, "eval.json"), jsonable(row))
    return row
