"""`gan-bench eval --workdir DIR`: metrics of a trained trial's newest checkpoint.

The trial's own `config.gin` rebuilds the generator, with the convolution implementation the trial recorded
(`conv_impl.json`), over the eval split only: evaluating never reads the train split or compiles a training
step, and shares the training-time evaluation's code (`gan_bench.train.evaluation`), so the numbers agree. The
result is printed and written to `DIR/eval.json` (atomically), leaving `metrics.jsonl` — the training-time
record — untouched. Everything that can be wrong with DIR (no config, a bad config, no checkpoint, unknown
metric names) fails before the slow part, and each slow stage is logged as it starts, so the command is never
silent for long.
"""
import dataclasses
import logging
import os
from typing import Optional, Sequence

from gan_bench import checkpoint
from gan_bench.atomic import atomic_write_json
from gan_bench.config import check_config, parse_config
from gan_bench.outputs import jsonable

log = logging.getLogger("gan_bench")


def evaluate_workdir(workdir: str, metrics: Optional[Sequence[str]] = None) -> dict:
    config_path = os.path.join(workdir, "config.gin")
    if not os.path.isfile(config_path):
        raise ValueError(f"{workdir} is not a trial folder: {config_path} is missing")
    cfg = parse_config([config_path])
    if metrics:
        cfg = dataclasses.replace(cfg, metrics=tuple(metrics))
        check_config(cfg)  # unknown metric names, before anything is built
    if not cfg.metrics:
        raise ValueError(f"no metrics to compute: pass --metrics or set trial.metrics in {config_path}")
    ckpt_dir = os.path.join(workdir, "ckpt")
    steps = checkpoint.list_steps(ckpt_dir)
    if not steps:
        raise ValueError(f"{workdir} has no checkpoint: {ckpt_dir} holds no saved step (train it first)")

    from gan_bench.metrics import evaluate as ev  # pylint: disable=import-outside-toplevel

    ev.check_settings(cfg.metrics)  # the metrics' gin options, before anything is built

    log.info("eval %s: loading dataset %r and building the %r networks", workdir, cfg.dataset, cfg.architecture)
    evaluator, template = _generator_and_template(cfg, workdir)
    log.info("eval %s: loading the checkpoint at step %d", workdir, steps[-1])
    state = checkpoint.restore_latest(ckpt_dir, template)
    if state is None:
        raise ValueError(f"{workdir} has no readable checkpoint in {ckpt_dir}")
    step = int(state.step)
    log.info("eval %s: generating %d samples at step %d and reading as many real %r ones", workdir,
             cfg.eval_num_samples, step, cfg.eval_split)
    ctx = evaluator.eval_context(cfg, state)
    row = {"step": step}
    for name in cfg.metrics:  # one context: features shared by the metrics are computed once
        log.info("eval %s: computing metric %s", workdir, name)
        row.update(ev.evaluate([name], ctx))
    atomic_write_json(os.path.join(workdir, "eval.json"), jsonable(row))
    log.info("eval %s: wrote %s", workdir, os.path.join(workdir, "eval.json"))
    return row


def _generator_and_template(cfg, workdir: str):
    """(Evaluator, state template): the trial's generator, with the convolution implementation it trained with
    (its conv_impl.json), over the eval split; and zeros shaped like its checkpointed state.

    No train split is read and nothing is compiled for training: the eval split lends the data shape, and the
    template (whole state: G, D, optimizers, EMA, normalization collections) is only traced for its shapes.
    """
    import functools  # pylint: disable=import-outside-toplevel
    import jax  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel
    from gan_bench import data  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.state import hparams_of, init_state  # pylint: disable=import-outside-toplevel
    from gan_bench.train.engine import bn_groups_of, build_model, choose_conv  # pylint: disable=import-outside-toplevel
    from gan_bench.train.evaluation import Evaluator  # pylint: disable=import-outside-toplevel

    eval_dataset = data.load(cfg.dataset, split=cfg.eval_split, data_dir=cfg.data_dir)
    bn_groups = bn_groups_of(cfg)
    conv = choose_conv(cfg, eval_dataset, bn_groups, population=0, workdirs=[workdir])
    model = build_model(cfg, eval_dataset, bn_groups, conv=conv.member_impl)
    shapes = jax.eval_shape(functools.partial(init_state, model), cfg.seed, hparams_of(cfg))
    template = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    return Evaluator(cfg, model, eval_dataset), template
