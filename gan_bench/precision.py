"""Numerical precision of a trial's compiled functions: `trial.precision = 'float32' | 'tf32' | 'bf16'`.

Why a policy at all: on a GPU, JAX's default float32 precision runs matmuls and convolutions as TF32 (10-bit
mantissa inputs), which is fast but not float32; on a CPU every precision setting gives the same bits. A study
that compares numbers across machines needs to say which one it ran.

| policy    | matmul / conv precision (`jax.default_matmul_precision`) | compute dtype of matmuls and convs |
| --------- | --------------------------------------------------------- | ---------------------------------- |
| `float32` | `'highest'` (true float32 on every backend)               | float32                            |
| `tf32`    | `'tensorfloat32'` (TF32 on GPUs that have it)             | float32                            |
| `bf16`    | `'default'`                                               | bfloat16 inputs, float32 results   |

Under `bf16` only the operands of the contraction primitives (`dot_general`, `conv_general_dilated`) are cast
to bfloat16, and they accumulate into and return float32 (`preferred_element_type`; on a CPU, which lacks
some of those kernels, the rounded operands are widened back: the same numbers, not the speed). Everything else runs in
float32 as before: parameters, optimizer state, losses, batch-norm statistics, elementwise ops. What is bit-defined
is the program handed to XLA; on a GPU the compiler and its libraries have some freedom: cuDNN may keep bf16
intermediates inside a convolution, and XLA may drop a float32 -> bf16 -> float32 round trip where it runs an
op in float32 anyway (measured on an H200: a 3-channel conv gave the float32 loss to the bit). Matrix-vector
products — a contraction where one side has a single free row, as in the spectral-norm power iteration
(`u @ W`) — stay float32 too, so sigma is estimated at full precision.

What the engine calls. Wrap the *unjitted* step and sample functions, then jit the result (the policy acts
while JAX traces, so the compiled program carries it):

    step = jax.jit(precision.with_precision(cfg.precision, step_fn), donate_argnums=0, ...)
    sample = jax.jit(precision.with_precision(cfg.precision, sample_fn))

`with_precision` on an already jitted function works for `float32` and `tf32` (the precision setting is part
of jit's cache key), but `bf16` must see the traced program, so wrap before `jax.jit`. Gradients are taken
inside the step (the step is wrapped as a whole), never through the wrapper.

Default `'float32'`: on a CPU it changes nothing (same bits as JAX's default there), and it keeps GPU runs
comparable with CPU runs. Whether a GPU study should default to `tf32` or `bf16` is a question of measured
speed against measured drift of the metrics, which `benchmarks/gpu_check.sh` is there to answer.
"""
import contextlib
import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
from jax.extend import core as jex_core

POLICIES = ("float32", "tf32", "bf16")
_MATMUL_PRECISION = {"float32": "highest", "tf32": "tensorfloat32", "bf16": "default"}
_COMPUTE_DTYPE = {"float32": jnp.float32, "tf32": jnp.float32, "bf16": jnp.bfloat16}
_CONTRACTIONS = ("dot_general", "conv_general_dilated")
# Call-like primitives whose inner program is evaluated with the same casts (param name of that program).
_INNER_PROGRAM = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"precision policy {policy!r} is not one of {', '.join(POLICIES)}")
    return policy


def matmul_precision(policy: str) -> str:
    """The `jax.default_matmul_precision` value of `policy`."""
    return _MATMUL_PRECISION[check_policy(policy)]


def compute_dtype(policy: str):
    """The dtype the contractions of `policy` compute in (parameters and state are always float32)."""
    return _COMPUTE_DTYPE[check_policy(policy)]


def with_precision(policy: str, fn: Callable) -> Callable:
    """`fn` run under `policy`: its matmul / conv precision and, for `bf16`, bfloat16 contraction inputs."""
    check_policy(policy)
    inner = _bf16_contractions(fn) if policy == "bf16" else fn

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with jax.default_matmul_precision(matmul_precision(policy)):
            return inner(*args, **kwargs)
    return run


def _bf16_contractions(fn: Callable) -> Callable:
    """`fn` re-evaluated from its traced program with bfloat16 operands for every matrix-matrix contraction."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        closed, out_shape = jax.make_jaxpr(functools.partial(fn, **kwargs), return_shape=True)(*args)
        flat = jax.tree_util.tree_leaves(args)
        out = _eval(closed.jaxpr, closed.consts, flat)
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape), out)
    return run


def _is_matvec(eqn) -> bool:
    """True when one operand of a dot_general has at most one free (non-contracted, non-batch) element."""
    if eqn.primitive.name != "dot_general":
        return False
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = eqn.params["dimension_numbers"]
    for var, used in ((eqn.invars[0], (*lhs_contract, *lhs_batch)), (eqn.invars[1], (*rhs_contract, *rhs_batch))):
        free = [d for i, d in enumerate(var.aval.shape) if i not in used]
        if math.prod(free) <= 1:
            return True
    return False


def _bf16_contraction(eqn, invals):
    """The contraction `eqn` on bfloat16-rounded operands, accumulated and returned in float32.

    XLA on CPU has no bf16 x bf16 -> f32 kernel for every dot; there the operands are rounded to bfloat16 and
    widened back, which gives the same products (a product of two bf16 values is exact in float32) and the
    same float32 accumulation, without the speed.
    """
    out_dtype = eqn.outvars[0].aval.dtype
    params = dict(eqn.params, preferred_element_type=jnp.float32)
    rounded = [x.astype(jnp.bfloat16) for x in invals]
    if jax.default_backend() == "cpu":
        rounded = [x.astype(jnp.float32) for x in rounded]
    return eqn.primitive.bind(*rounded, **params).astype(out_dtype)


def _eval(jaxpr, consts, args):
    env = {}

    def read(v):
        return v.val if isinstance(v, jex_core.Literal) else env[v]

    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        program = next((eqn.params[k] for k in _INNER_PROGRAM if k in eqn.params), None)
        if program is not None and eqn.primitive.name not in ("while", "cond", "scan"):
            closed = program if hasattr(program, "jaxpr") else None
            outs = (_eval(closed.jaxpr, closed.consts, invals) if closed is not None
                    else _eval(program, (), invals))
        elif eqn.primitive.name in _CONTRACTIONS and not _is_matvec(eqn) and all(
                getattr(x, "dtype", None) == jnp.float32 for x in invals):
            outs = [_bf16_contraction(eqn, invals)]
        else:
            bind = eqn.primitive.get_bind_params(eqn.params)  # jax < 0.10: (subfuns, params); since: params
            subfuns, params = bind if isinstance(bind, tuple) else ((), bind)
            with eqn.ctx.manager if hasattr(eqn, "ctx") else contextlib.nullcontext():
                outs = eqn.primitive.bind(*subfuns, *invals, **params)
            if not eqn.primitive.multiple_results:
                outs = [outs]
        for v, x in zip(eqn.outvars, outs):
            env[v] = x
    return [read(v) for v in jaxpr.outvars]
