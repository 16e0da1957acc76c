"""How G's batch norm behaves when G is sampled for evaluation: three modes.

- `running`: the running averages training kept (`batch_stats`); what `GANModel.generate(train=False)` does.
- `batch`: each sampled batch is normalized by its own statistics (G in training mode, nothing kept).
- `standing`: "standing statistics" as BigGAN uses them (Brock et al. 2019, section 3.1 and BigGAN-PyTorch's
  `accumulate_standing_stats`): before evaluating, G runs `passes` times in training mode on fresh z; each
  batch norm's mean and variance become the averages of those passes' batch moments, and G is then sampled
  with them as with running averages. `standing_batch_stats` computes them from the moments every batch norm
  sows into collection `batch_moments` (`layers.BatchNorm`).

`trial.g_bn_eval` chooses the mode of a trial's samples and evaluations (`train.evaluation.Evaluator.
g_collections`): 'standing' computes the statistics once per evaluation (on the EMA or raw parameters it
evaluates); 'batch' computes each chunk's own moments with `standing_batch_stats` over that one chunk, which
gives the numbers of G in training mode on the chunk.
"""
from typing import Any, Dict

import flax
import jax
import jax.numpy as jnp

BN_EVAL_MODES = ("running", "batch", "standing")
# Training-mode passes averaged into standing statistics (BigGAN-PyTorch's num_standing_accumulations default).
STANDING_PASSES = 16


def check_mode(mode: str) -> None:
    if mode not in BN_EVAL_MODES:
        raise ValueError(f"G batch-norm evaluation mode {mode!r}; expected one of {', '.join(BN_EVAL_MODES)}")


def _labels(y) -> Dict[str, Any]:
    """G's keyword arguments for labels y (none for an unconditional G)."""
    return {} if y is None else {"y": y}


def standing_batch_stats(generator, params, batch_stats: Dict[str, Any], z_passes, y_passes=None,
                         spectral=None) -> Dict[str, Any]:
    """G's batch statistics averaged over the training-mode passes z_passes [passes, batch, z_dim].

    `y_passes` [passes, batch]: the labels of a class-conditional G's passes. `spectral`: the power-iteration
    vectors of a G with spectral norm (BigGAN, SAGAN); the passes' updates of them are dropped.
    Returns a tree shaped like `batch_stats` (each batch norm's `mean` and `var`); a G without batch norm
    gets its (empty) `batch_stats` back.
    """
    if not batch_stats:
        return batch_stats
    extra = {"spectral": spectral} if spectral else {}

    def moments(z, y):
        _, updated = generator.apply({"params": params, "batch_stats": batch_stats, **extra}, z, train=True,
                                     mutable=["batch_stats", "batch_moments", *extra], **_labels(y))
        return flax.core.unfreeze(updated["batch_moments"])  # each sown value: a 1-tuple (one call per pass)

    z_passes = jnp.asarray(z_passes)
    per_pass = jax.vmap(moments)(z_passes, None if y_passes is None else jnp.asarray(y_passes))
    averaged = jax.tree_util.tree_map(lambda x: jnp.mean(x, axis=0), per_pass,
                                      is_leaf=lambda x: isinstance(x, jnp.ndarray))
    return jax.tree_util.tree_map(lambda sown: sown[0], averaged, is_leaf=lambda x: isinstance(x, tuple))


def sample(generator, params, collections: Dict[str, Any], z, mode: str, standing_stats=None, y=None):
    """G(z) (G(z, y) for a class-conditional G) for evaluation under batch-norm `mode`; `standing_stats` (from
    `standing_batch_stats`) for 'standing'. `collections` are G's normalization collections
    (`NetworkState.norm_collections`)."""
    check_mode(mode)
    variables = {"params": params, **collections}
    if mode == "batch":
        return generator.apply(variables, z, train=True, mutable=list(collections), **_labels(y))[0]
    if mode == "standing":
        if standing_stats is None:
            raise ValueError("G batch-norm evaluation mode 'standing' needs the standing statistics "
                             "(nets.bn_eval.standing_batch_stats)")
        if collections.get("batch_stats"):
            variables["batch_stats"] = standing_stats
    return generator.apply(variables, z, train=False, **_labels(y))
