"""BigGAN's orthogonal regularization of G (Brock et al. 2019, Sec. 3.1): `trial.regularizers = ['ortho']`.

    R(W) = beta * || W^T W (1 - I) ||_F^2

summed over G's weight matrices, W with one column per output unit (a flax kernel [..., in, out] read as
[prod(...) * in, out], the filters' Gram matrix W^T W being [out, out]): it pushes filters towards
orthogonality without constraining their norms. beta = `ortho.weight`, 1e-4 as in the paper. As in the
authors' code (BigGAN-PyTorch `utils.ortho`), it applies to every weight of rank >= 2 except embedding tables
(flax leaves named `embedding`); biases, batch-norm scales and 1-D vectors are left alone.
"""
import dataclasses

import gin
import jax
import jax.numpy as jnp

from gan_bench.gan.regularizers import REGULARIZERS, Regularizer, number_problems


def _is_regularized(path, leaf) -> bool:
    names = [str(getattr(k, "key", getattr(k, "name", k))) for k in path]
    return jnp.ndim(leaf) >= 2 and not any("embedding" in name for name in names)


def off_diagonal_gram_penalty(kernel):
    """|| W^T W (1 - I) ||_F^2 for one kernel, read as W [rows, out] (the last axis: output units)."""
    w = jnp.reshape(kernel, (-1, kernel.shape[-1])).astype(jnp.float32)
    gram = w.T @ w
    off = gram * (1.0 - jnp.eye(gram.shape[0], dtype=gram.dtype))
    return jnp.sum(jnp.square(off))


def orthogonal_penalty(params):
    """The unweighted sum over the regularized weights of `params` (see the module docstring)."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    terms = [off_diagonal_gram_penalty(leaf) for path, leaf in leaves if _is_regularized(path, leaf)]
    return sum(terms, jnp.zeros((), jnp.float32))


@REGULARIZERS.register("ortho", gin_configurables=("ortho",))
@gin.configurable("ortho")
@dataclasses.dataclass(frozen=True)
class Orthogonal(Regularizer):
    """weight * sum_W || W^T W (1 - I) ||_F^2 over G's weights, added to G's loss."""

    weight: float = 1e-4
    name = "ortho"

    def generator_term(self, ctx, state):
        del state
        reg = orthogonal_penalty(ctx.params)
        return self.weight * reg, {"ortho": reg}

    def problems(self):
        return number_problems("ortho", [("weight", self.weight, lambda x: x >= 0, "a number >= 0")])
