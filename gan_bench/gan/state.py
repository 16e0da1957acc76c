"""The train state of one GAN and how it is created.

Everything a trial needs to continue bit-for-bit lives in `GANState`: parameters, normalization state,
optimizer states, the EMA of the generator, the trial's base RNG key and its hyperparameters. The
hyperparameters that a population may vary (learning rates, Adam betas, penalty weight, clip value, EMA
decay) are arrays inside the state, not Python constants, so `jax.vmap` over a leading population axis
trains members with different values in one compiled step.
"""
from typing import Any, Dict

import flax
import jax
import jax.numpy as jnp
import optax

from gan_bench.config import TrialConfig

NORM_COLLECTIONS = ("batch_stats", "spectral")

# The hyperparameters a member of a population may vary without recompiling.
TRACED_HPARAMS = ("g_lr", "d_lr", "beta1", "beta2", "penalty_weight", "clip_value", "ema_decay")


@flax.struct.dataclass
class GANState:
    step: jnp.ndarray  # generator updates done
    g_params: Any
    d_params: Any
    g_state: Any  # non-parameter collections of G (batch_stats)
    d_state: Any  # non-parameter collections of D (batch_stats, spectral)
    g_opt: Any
    d_opt: Any
    ema_params: Any  # EMA of g_params (equal to g_params when ema_decay == 0)
    key: jnp.ndarray  # base key of the trial: every draw is fold_in(key, step, purpose)
    hparams: Dict[str, jnp.ndarray]
    nonfinite_step: jnp.ndarray  # first step whose losses were NaN/Inf, -1 while finite


def hparams_of(cfg: TrialConfig) -> Dict[str, jnp.ndarray]:
    return {name: jnp.asarray(getattr(cfg, name), jnp.float32) for name in TRACED_HPARAMS}


def make_optimizer(name: str, lr, b1, b2) -> optax.GradientTransformation:
    """Adam (compare_gan's default) or RMSProp, with hyperparameters kept in the optimizer state."""
    if name == "adam":
        return optax.inject_hyperparams(optax.adam)(learning_rate=lr, b1=b1, b2=b2)
    if name == "rmsprop":
        return optax.inject_hyperparams(optax.rmsprop)(learning_rate=lr)
    raise ValueError(f"unknown optimizer {name!r}; expected 'adam' or 'rmsprop'")


def _split_variables(variables):
    variables = flax.core.unfreeze(variables)
    params = variables.pop("params")
    return params, {k: v for k, v in variables.items() if k in NORM_COLLECTIONS}


def init_state(model, optimizer: str, seed, hparams: Dict[str, jnp.ndarray]) -> GANState:
    """Initialize G and D from the trial seed. `seed` may be a traced int (population init under vmap)."""
    key = jax.random.PRNGKey(seed)
    g_key, d_key = jax.random.split(jax.random.fold_in(key, 0x1A17))
    z = jnp.zeros((model.init_batch, model.z_dim), jnp.float32)
    g_params, g_state = _split_variables(model.generator.init(g_key, z, train=False))
    x = jnp.zeros((model.init_batch,) + model.d_input_shape, jnp.float32)  # already packed
    d_params, d_state = _split_variables(model.discriminator.init(d_key, x, train=False))
    g_tx = make_optimizer(optimizer, hparams["g_lr"], hparams["beta1"], hparams["beta2"])
    d_tx = make_optimizer(optimizer, hparams["d_lr"], hparams["beta1"], hparams["beta2"])
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params,
        d_params=d_params,
        g_state=g_state,
        d_state=d_state,
        g_opt=g_tx.init(g_params),
        d_opt=d_tx.init(d_params),
        ema_params=g_params,
        key=key,
        hparams=hparams,
        nonfinite_step=jnp.full((), -1, jnp.int32),
    )
