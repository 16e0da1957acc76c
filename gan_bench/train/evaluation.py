"""A member's samples and evaluations: the unbatched generator, its fixed latents and the eval split.

Kept apart from the `Engine` so that `gan-bench eval` evaluates a trained trial with this same code (the
same latents, the same batching of the generator, hence the same numbers as the training-time evaluation)
without loading the train split or compiling a training step.
"""
import functools
from typing import Optional

import jax
import numpy as np

from gan_bench import data, precision
from gan_bench.config import TrialConfig

_EVAL_Z = 0xE7A1  # purpose constant of the fixed evaluation latents
_SAMPLE_CHUNK = 500  # generator calls per batch of latents: bounds memory, and fixes the numbers' batching


class Evaluator:
    """Samples and metrics of one member state, through `model`'s generator (the solo convolution form).

    `eval_dataset`: the eval split when the caller has it already; otherwise it is read at the first
    evaluation (a run without metrics never reads it).
    """

    def __init__(self, cfg: TrialConfig, model, eval_dataset=None):
        self.cfg, self.model = cfg, model
        if eval_dataset is not None:
            self.__dict__["eval_dataset"] = eval_dataset  # fills the cached property below
        self._sample = jax.jit(precision.with_precision(  # the samples of trial.precision, as the step
            cfg.precision, lambda params, g_collections, z: model.generate(params, g_collections, z)))
        # One generator function for the whole run: metrics that differentiate through G (polygon recall)
        # compile it once and get each evaluation's weights as data.
        self.generate = lambda variables, z: model.generate(variables[0], variables[1], z)

    @functools.cached_property
    def eval_dataset(self):
        return data.load(self.cfg.dataset, split=self.cfg.eval_split, data_dir=self.cfg.data_dir)

    @functools.cached_property
    def real_eval_samples(self) -> np.ndarray:
        """The real side of every evaluation, read once per run (members share `eval_num_samples`)."""
        return self.eval_dataset.get(np.arange(min(self.cfg.eval_num_samples, self.eval_dataset.num_examples)))

    @staticmethod
    def generator_weights(cfg: TrialConfig, state):
        """The weights samples come from: the EMA generator when the EMA is on, else the trained one."""
        return state.ema_params if cfg.ema_decay > 0 else state.g.params

    def samples(self, cfg: TrialConfig, state, n: int) -> np.ndarray:
        """n generated samples from the member's fixed latents (its EMA generator when the EMA is on)."""
        z = self.model.sample_z(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), _EVAL_Z), n)
        params = self.generator_weights(cfg, state)
        out = [np.asarray(self._sample(params, state.g.norm_collections, z[i:i + _SAMPLE_CHUNK]))
               for i in range(0, n, _SAMPLE_CHUNK)]
        return np.concatenate(out)

    def eval_context(self, cfg: TrialConfig, state):
        """The metrics' inputs at this state: real eval samples and `eval_num_samples` generated ones."""
        from gan_bench.metrics import evaluate as ev  # pylint: disable=import-outside-toplevel
        return ev.EvalContext(real=self.real_eval_samples,
                              fake=self.samples(cfg, state, cfg.eval_num_samples), dataset=self.eval_dataset,
                              generate=self.generate,
                              generator_variables=(self.generator_weights(cfg, state), state.g.norm_collections),
                              z_dim=cfg.z_dim, seed=cfg.seed, split=cfg.eval_split, data_dir=cfg.data_dir,
                              generator_weights="ema" if cfg.ema_decay > 0 else "final")

    def evaluate(self, cfg: TrialConfig, state, step: int, train_logs: Optional[dict] = None) -> dict:
        """One metrics.jsonl row: the step, the train losses of that step, and `cfg.metrics` at `state`."""
        row = {"step": step, **{k: float(v) for k, v in (train_logs or {}).items()}}
        if cfg.metrics:
            from gan_bench.metrics import evaluate as ev  # pylint: disable=import-outside-toplevel
            row.update(ev.evaluate(cfg.metrics, self.eval_context(cfg, state)))
        return row
