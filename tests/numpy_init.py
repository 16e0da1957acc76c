"""Network variables drawn with NumPy on the shapes `module.init` would give, for tests whose check holds for
any values (an output against its NumPy recomputation, a shape, a structure).

XLA compiles random initializers slowly on a CPU: about 0.15 s per parameter, so a small conv net's `init` costs
seconds of compilation that such a test does not need. `jax.eval_shape` traces `init` without compiling it.
"""
import jax
import jax.numpy as jnp
import numpy as np


def numpy_variables(init_fn, seed: int = 0):
    """The variables `init_fn()` returns, with N(0, 0.2^2) entries, and 1 + |N(0, 1)| for batch-norm variances
    (names containing "var") so that normalizing by them stays finite."""
    shapes = jax.eval_shape(init_fn)
    rng = np.random.RandomState(seed)

    def draw(path, leaf):
        values = rng.randn(*leaf.shape)
        values = 1.0 + np.abs(values) if "var" in jax.tree_util.keystr(path) else 0.2 * values
        return jnp.asarray(np.asarray(values, leaf.dtype))
    return jax.tree_util.tree_map_with_path(draw, shapes)
