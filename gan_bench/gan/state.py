"""The train state of one GAN and how it is created.

Everything a trial needs to continue bit-for-bit lives in `GANState`: one `NetworkState` per network
(parameters, normalization collections, optimizer state and the optimizer itself, as flax's `TrainState`
keeps its `tx`), the EMA of the generator, the trial's base RNG key, its hyperparameters and the state of its
regularizers and augmentation (`objective_state`: ADA's p, LeCam's anchors; gan/objective.py). The
hyperparameters that a population may vary (learning rates, Adam betas, penalty weight, clip value, EMA
decay) are arrays inside the state, not Python constants, so `jax.vmap` over a leading population axis
trains members with different values in one compiled step.
"""
import dataclasses
from typing import Any, Dict, Mapping

import flax
from flax import serialization
import jax
import jax.numpy as jnp
import optax

from gan_bench.config import TrialConfig
from gan_bench.gan import objective

# Flax variable collections that networks update in training, besides `params`: batch-norm running
# statistics and spectral-norm power-iteration vectors. Each is a field of `NetworkState`.
NORM_COLLECTIONS = ("batch_stats", "spectral")

# The hyperparameters a member of a population may vary without recompiling.
TRACED_HPARAMS = ("g_lr", "d_lr", "beta1", "beta2", "penalty_weight", "clip_value", "ema_decay")

# optax's names of the injected optimizer hyperparameters -> the hyperparameter giving each one's value.
_OPTIMIZER_HPARAMS = {"g": {"learning_rate": "g_lr", "b1": "beta1", "b2": "beta2"},
                      "d": {"learning_rate": "d_lr", "b1": "beta1", "b2": "beta2"}}


@flax.struct.dataclass
class NetworkState:
    """One network's training state: what flax's `TrainState` holds, plus its normalization collections.

    `tx` is static (not a pytree leaf): one optimizer serves every member of a population, because its
    hyperparameters are injected (`optax.inject_hyperparams`) and so live, per member, in `opt_state`.
    """

    params: Any
    batch_stats: Dict[str, Any]  # batch-norm running means and variances; {} for a network without batch norm
    spectral: Dict[str, Any]  # spectral-norm power-iteration vectors u; {} for a network without spectral norm
    opt_state: Any
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    @property
    def norm_collections(self) -> Dict[str, Any]:
        """The network's non-empty normalization collections by name, as flax's `apply` takes them."""
        return {name: getattr(self, name) for name in NORM_COLLECTIONS if getattr(self, name)}

    def with_norm_collections(self, updated: Mapping[str, Any]) -> "NetworkState":
        """This state with the collections a training-mode `apply(..., mutable=...)` returned."""
        return self.replace(**{name: flax.core.unfreeze(value) for name, value in updated.items()})

    def apply_gradients(self, grads, learning_rate=None) -> "NetworkState":
        """One optimizer update of `params` by this network's own optimizer; `learning_rate` (a scheduled rate,
        gan/schedules.py) replaces the injected one first, else the rate in `opt_state` is used as it is."""
        opt_state = self.opt_state
        if learning_rate is not None:
            rates = opt_state.hyperparams
            rates = {**rates, "learning_rate": jnp.asarray(learning_rate, rates["learning_rate"].dtype)}
            opt_state = opt_state._replace(hyperparams=rates)
        updates, opt_state = self.tx.update(grads, opt_state, self.params)
        return self.replace(params=optax.apply_updates(self.params, updates), opt_state=opt_state)


@flax.struct.dataclass
class GANState:
    step: jnp.ndarray  # generator updates done
    g: NetworkState
    d: NetworkState
    ema_params: Any  # EMA of g.params (equal to g.params when ema_decay == 0)
    key: jnp.ndarray  # base key of the trial: every draw is fold_in(key, step, purpose)
    hparams: Dict[str, jnp.ndarray]
    nonfinite_step: jnp.ndarray  # first step whose losses were NaN/Inf, -1 while finite
    objective_state: Dict[str, Any]  # by method name: ADA's p, LeCam's anchors ({} without such methods)


def _state_dict(state: GANState) -> Dict[str, Any]:
    """GANState's fields as flax serializes them; an empty `objective_state` is left out, so a trial without
    stateful regularizers writes the checkpoints it wrote before the field existed, and reads them back."""
    out = {name: serialization.to_state_dict(getattr(state, name)) for name in _STATE_FIELDS}
    if not state.objective_state:
        del out["objective_state"]
    return out


def _from_state_dict(target: GANState, state: Dict[str, Any]) -> GANState:
    state = dict(state)
    if "objective_state" not in state and not target.objective_state:
        state["objective_state"] = {}
    missing = [name for name in _STATE_FIELDS if name not in state]
    unknown = sorted(set(state) - set(_STATE_FIELDS))
    if missing or unknown:
        raise ValueError(f"GANState: missing field(s) {missing}, unknown field(s) {unknown} in the state dict")
    return target.replace(**{name: serialization.from_state_dict(getattr(target, name), state[name], name=name)
                             for name in _STATE_FIELDS})


_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(GANState) if f.metadata.get("pytree_node", True))
serialization.register_serialization_state(GANState, _state_dict, _from_state_dict, override=True)


def hparams_of(cfg: TrialConfig) -> Dict[str, jnp.ndarray]:
    return {name: jnp.asarray(getattr(cfg, name), jnp.float32) for name in TRACED_HPARAMS}


def make_optimizer(name: str, lr, b1, b2) -> optax.GradientTransformation:
    """Adam (compare_gan's default) or RMSProp, with hyperparameters kept in the optimizer state.

    The values given here are the defaults `init` writes into that state; `init_state` then writes each
    member's own values, which are the ones every update reads.
    """
    if name == "adam":
        return optax.inject_hyperparams(optax.adam)(learning_rate=lr, b1=b1, b2=b2)
    if name == "rmsprop":
        return optax.inject_hyperparams(optax.rmsprop)(learning_rate=lr)
    raise ValueError(f"unknown optimizer {name!r}; expected 'adam' or 'rmsprop'")


def make_optimizers(cfg: TrialConfig):
    """(G's, D's) optimizers of a trial. Built once, outside any trace, so no traced value is closed over."""
    return (make_optimizer(cfg.optimizer, cfg.g_lr, cfg.beta1, cfg.beta2),
            make_optimizer(cfg.optimizer, cfg.d_lr, cfg.beta1, cfg.beta2))


def _network_state(variables, tx, which: str, hparams: Dict[str, jnp.ndarray]) -> NetworkState:
    variables = flax.core.unfreeze(variables)
    params = variables["params"]
    opt_state = tx.init(params)
    # The member's own values, which may be traced (population init under vmap), replace the defaults.
    injected = {name: jnp.asarray(hparams[source], opt_state.hyperparams[name].dtype)
                for name, source in _OPTIMIZER_HPARAMS[which].items() if name in opt_state.hyperparams}
    opt_state = opt_state._replace(hyperparams={**opt_state.hyperparams, **injected})
    return NetworkState(params=params, batch_stats=variables.get("batch_stats", {}),
                        spectral=variables.get("spectral", {}), opt_state=opt_state, tx=tx)


def init_state(model, seed, hparams: Dict[str, jnp.ndarray]) -> GANState:
    """Initialize G and D from the trial seed. `seed` may be a traced int (population init under vmap)."""
    key = jax.random.PRNGKey(seed)
    g_key, d_key = jax.random.split(jax.random.fold_in(key, 0x1A17))
    z = jnp.zeros((model.init_batch, model.z_dim), jnp.float32)
    y = jnp.zeros((model.init_batch,), jnp.int32)  # class labels, for nets conditioned on them
    g_labels = {"y": y} if getattr(model, "g_labels", False) else {}
    d_labels = {"y": y} if getattr(model, "d_labels", False) else {}
    g = _network_state(model.generator.init(g_key, z, train=False, **g_labels), model.g_tx, "g", hparams)
    x = jnp.zeros((model.init_batch,) + model.d_input_shape, jnp.float32)  # already packed
    d = _network_state(model.discriminator.init(d_key, x, train=False, **d_labels), model.d_tx, "d", hparams)
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g=g,
        d=d,
        ema_params=g.params,
        key=key,
        hparams=hparams,
        nonfinite_step=jnp.full((), -1, jnp.int32),
        objective_state=objective.init_state(model.regularizers, model.augment),
    )
