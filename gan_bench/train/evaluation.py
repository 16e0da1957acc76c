"""A member's samples and evaluations: the unbatched generator, its fixed latents and the eval split.

Kept apart from the `Engine` so that `gan-bench eval` evaluates a trained trial with this same code (the
same latents, the same batching of the generator, hence the same numbers as the training-time evaluation)
without loading the train split or compiling a training step.

A class-conditional generator samples the classes in turn (sample i has class i mod C), so every evaluation
sees the classes equally often and each one's samples are the same latents' at every step; `class_grid` draws
one row per class. With `trial.truncation` > 0 the latents are truncated (`GANModel.sample_z(truncated=True)`).
Samples and metrics come from the EMA weights of G when the EMA is on; the metrics' protocol records say which.
"""
import functools
from typing import Optional

import jax
import numpy as np

from gan_bench import data, precision
from gan_bench.config import TrialConfig
from gan_bench.nets import bn_eval

_EVAL_Z = 0xE7A1  # purpose constant of the fixed evaluation latents
_SAMPLE_CHUNK = 500  # generator calls per batch of latents: bounds memory, and fixes the numbers' batching
_STANDING_Z = 0x57A4  # purpose constant of the latents of the standing-statistics passes
_GRID_Z = 0x6121D  # purpose constant of the latents of the per-class sample grid
GRID_COLUMNS, GRID_MAX_CLASSES = 10, 100  # the per-class grid: samples per row, classes drawn (the first ones)


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
            cfg.precision, lambda params, g_collections, z, y: model.generate(params, g_collections, z, y=y)))
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

    @functools.cached_property
    def _batch_moments(self):
        """G's batch statistics averaged over training-mode passes (bn_eval.standing_batch_stats), compiled."""
        return jax.jit(precision.with_precision(
            self.cfg.precision, functools.partial(bn_eval.standing_batch_stats, self.model.generator)))

    def g_collections(self, cfg: TrialConfig, state, params, z_chunk, y_chunk=None):
        """G's normalization collections for the samples of latents `z_chunk` (classes `y_chunk` for a
        conditional G) under `trial.g_bn_eval`: the running averages training kept; 'batch': the chunk's own
        batch statistics (the same numbers as G in training mode on the chunk); 'standing': the averages of
        `bn_eval.STANDING_PASSES` training-mode passes over fixed latents of `_SAMPLE_CHUNK` each (classes in
        turn), computed once per weights `params`."""
        collections = state.g.norm_collections
        if cfg.g_bn_eval == "running" or not collections.get("batch_stats"):
            return collections
        spectral = collections.get("spectral")
        if cfg.g_bn_eval == "batch":
            stats = self._batch_moments(params, collections["batch_stats"], z_chunk[None],
                                        None if y_chunk is None else y_chunk[None], spectral)
        else:
            cached = self.__dict__.get("_standing")
            if cached is not None and cached[0] is params:
                return cached[1]
            key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), _STANDING_Z)
            z = self.model.sample_z(key, bn_eval.STANDING_PASSES * _SAMPLE_CHUNK)
            y = self.sample_labels(bn_eval.STANDING_PASSES * _SAMPLE_CHUNK)
            stats = self._batch_moments(params, collections["batch_stats"],
                                        z.reshape((bn_eval.STANDING_PASSES, _SAMPLE_CHUNK) + z.shape[1:]),
                                        None if y is None else y.reshape(bn_eval.STANDING_PASSES, _SAMPLE_CHUNK),
                                        spectral)
        out = {**collections, "batch_stats": stats}
        if cfg.g_bn_eval == "standing":
            self.__dict__["_standing"] = (params, out)
        return out

    @staticmethod
    def generator_weights(cfg: TrialConfig, state):
        """The weights samples come from: the EMA generator when the EMA is on, else the trained one."""
        return state.ema_params if cfg.ema_decay > 0 else state.g.params

    def sample_labels(self, n: int) -> Optional[np.ndarray]:
        """The classes of n evaluation samples (i mod C, int32); None for a generator without labels."""
        return np.arange(n, dtype=np.int32) % self.model.num_classes if self.model.g_labels else None

    def samples(self, cfg: TrialConfig, state, n: int, labels: Optional[np.ndarray] = None,
                purpose: int = _EVAL_Z) -> np.ndarray:
        """n generated samples from the member's fixed latents (its EMA generator when the EMA is on); a
        conditional generator's of classes `labels` (default `sample_labels(n)`)."""
        z = self.model.sample_z(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), purpose), n, truncated=True)
        if labels is None:
            labels = self.sample_labels(n)
        params = self.generator_weights(cfg, state)
        chunks = [(z[i:i + _SAMPLE_CHUNK], None if labels is None else labels[i:i + _SAMPLE_CHUNK])
                  for i in range(0, n, _SAMPLE_CHUNK)]
        out = [np.asarray(self._sample(params, self.g_collections(cfg, state, params, z_chunk, y_chunk), z_chunk,
                                       y_chunk)) for z_chunk, y_chunk in chunks]
        return np.concatenate(out)

    def class_grid(self, cfg: TrialConfig, state) -> np.ndarray:
        """Samples [rows * GRID_COLUMNS, ...] of a conditional generator, row c all of class c (the first
        GRID_MAX_CLASSES classes), from latents fixed for the trial."""
        rows = min(self.model.num_classes, GRID_MAX_CLASSES)
        labels = np.repeat(np.arange(rows, dtype=np.int32), GRID_COLUMNS)
        return self.samples(cfg, state, len(labels), labels=labels, purpose=_GRID_Z)

    def eval_context(self, cfg: TrialConfig, state):
        """The metrics' inputs at this state: real eval samples and `eval_num_samples` generated ones."""
        from gan_bench.metrics import evaluate as ev  # pylint: disable=import-outside-toplevel
        real_labels = None
        if self.model.g_labels:
            real_labels = self.eval_dataset.labels(np.arange(len(self.real_eval_samples)))
        return ev.EvalContext(real=self.real_eval_samples,
                              fake=self.samples(cfg, state, cfg.eval_num_samples), dataset=self.eval_dataset,
                              real_labels=real_labels, fake_labels=self.sample_labels(cfg.eval_num_samples),
                              generate=self.generate,
                              generator_variables=(self.generator_weights(cfg, state), state.g.norm_collections),
                              z_dim=cfg.z_dim, seed=cfg.seed, split=cfg.eval_split, data_dir=cfg.data_dir,
                              generator_weights="ema" if cfg.ema_decay > 0 else "final",
                              truncation=repr(float(cfg.truncation)) if cfg.truncation > 0 else None)

    def evaluate(self, cfg: TrialConfig, state, step: int, train_logs: Optional[dict] = None) -> dict:
        """One metrics.jsonl row: the step, the train losses of that step, and `cfg.metrics` at `state`."""
        row = {"step": step, **{k: float(v) for k, v in (train_logs or {}).items()}}
        if cfg.metrics:
            from gan_bench.metrics import evaluate as ev  # pylint: disable=import-outside-toplevel
            row.update(ev.evaluate(cfg.metrics, self.eval_context(cfg, state)))
        return row
