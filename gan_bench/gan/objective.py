"""The regularizers and the augmentation of a trial: built from gin, checked, and run by the train step.

`trial.regularizers` names any number of regularizers (`REGULARIZERS`) and `trial.augment` one augmentation
(`AUGMENTATIONS`, 'none' by default); each method's hyperparameters are the gin keys of its own configurable
(`lecam.weight`, `diffaugment.policy`, ...). `configured_regularizers()` / `configured_augmentation()` build them
from the parsed gin configuration, which is where `GANModel` takes them when its builder does not name them
(the same configuration `parse_config` has just checked); `problems(cfg)` is the configuration check, run
before anything is built. The train step calls the hooks at the end of this module (`Augmenter`,
`with_d_terms`, `generator_objective`, `end_step`, ...), which reduce to nothing when a trial has neither (its
numbers are then those of a build without them).

State: `GANState.objective_state` maps a method's name to its state (ADA's p, LeCam's anchors); methods
without state have no entry, so a trial without them keeps an empty dict.
"""
import dataclasses
import functools
from typing import Any, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp

from gan_bench.gan import ada, consistency, diffaugment, lecam, orthogonal, topk  # noqa: F401  (registration)
from gan_bench.gan import energy  # BEGAN's and EBGAN's terms, implied by their losses
from gan_bench.gan.augment import AUGMENTATIONS, Augmentation, take
from gan_bench.gan.regularizers import REGULARIZERS, DiscriminatorPass, GeneratorPass, Regularizer

# Pairs that would count one term twice: bCR's real part is CR.
EXCLUSIVE = (("cr", "bcr"),)
# What the train step logs without regularizers; the rest of a step's logs are the regularizers'.
CORE_LOGS = ("d_loss", "penalty", "d_real", "d_fake", "g_loss")


def build_regularizers(names) -> Tuple[Regularizer, ...]:
    """The regularizers `names`, each with its gin-bound hyperparameters."""
    return tuple(REGULARIZERS.get(name)() for name in names)


def build_augmentation(name: str) -> Optional[Augmentation]:
    """The augmentation `name` with its gin-bound hyperparameters; None for 'none'."""
    cls = AUGMENTATIONS.get(name)
    return None if cls is None else cls()


def _bound_trial():
    from gan_bench.config import TrialConfig  # pylint: disable=import-outside-toplevel
    return TrialConfig()


@functools.lru_cache(maxsize=8)
def _train_examples(dataset: str, data_dir: Optional[str], fraction: float, subset_seed: int) -> int:
    del fraction, subset_seed  # part of the cache key: the loaded training split already reflects them
    from gan_bench import data  # pylint: disable=import-outside-toplevel
    return data.load(dataset, split="train", data_dir=data_dir).num_examples


def configured_regularizers() -> Tuple[Regularizer, ...]:
    """`trial.regularizers` of the parsed gin configuration, built; top-k learns the training set's size."""
    cfg = _bound_trial()
    built = []
    for reg in build_regularizers(cfg.regularizers):
        if isinstance(reg, topk.TopK):
            n = _train_examples(cfg.dataset, cfg.data_dir, cfg.train_fraction, cfg.train_subset_seed)
            reg = dataclasses.replace(reg, train_examples=n)
        built.append(reg)
    return tuple(built) + energy.loss_terms(cfg.loss)


def configured_augmentation() -> Optional[Augmentation]:
    """`trial.augment` of the parsed gin configuration, built (None for 'none')."""
    return build_augmentation(_bound_trial().augment)


def problems(cfg) -> List[str]:
    """What cannot work in `cfg`'s regularizers and augmentation (names already checked): their gin-bound
    hyperparameters, pairs that count a term twice, and top-k with a loss whose fakes interact."""
    out = []
    names = list(cfg.regularizers)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        out.append(f"trial.regularizers = {names!r} names {', '.join(repeated)} more than once")
    for a, b in EXCLUSIVE:
        if a in names and b in names:
            out.append(f"trial.regularizers = {names!r}: {b!r} already contains {a!r}'s term; use one of them")
    for reg in build_regularizers(dict.fromkeys(names)):
        out += reg.problems()
    augmentation = build_augmentation(cfg.augment)
    if augmentation is not None:
        out += augmentation.problems()
    for term in energy.loss_terms(cfg.loss):
        out += term.problems()
    if "topk" in names:
        from gan_bench.gan.losses import LOSSES  # pylint: disable=import-outside-toplevel
        if not topk.generator_loss_is_per_fake(LOSSES.get(cfg.loss)):
            out.append(f"trial.regularizers includes 'topk', but trial.loss = {cfg.loss!r} does not average G's loss "
                       f"over the fakes one by one, so there is no loss of the top k alone")
    return out


def model_problems(model) -> List[str]:
    """What cannot work once the data's shape, the loss and the step's options are known (a `GANModel`)."""
    out = []
    regularizers, augmentation = model.regularizers, model.augment
    if (regularizers or augmentation is not None) and model.update_order != "alternating":
        out.append("trial.regularizers and trial.augment run in the alternating step only "
                   f"(gan_step.update_order = {model.update_order!r})")
    needed = getattr(model.loss_fn, "completed_by", None)  # an energy loss's term (gan/energy.py)
    if needed and not any(reg.name == needed for reg in regularizers):
        out.append(f"the {needed!r} loss needs its term {energy.TERMS[needed].__name__} among the model's "
                   f"regularizers (the parsed configuration adds it for trial.loss = {needed!r})")
    if needed and not getattr(model.discriminator, "outputs_energy", False):
        out.append(f"trial.loss = {needed!r} reads D's outputs as reconstruction energies: it needs an autoencoder "
                   f"discriminator (trial.architecture = 'began_autoencoder', 'ebgan_autoencoder', "
                   f"'dcgan_autoencoder' or 'resnet_cifar_autoencoder'), got {type(model.discriminator).__name__}")
    image = len(model.data_shape) == 3
    for reg in regularizers:
        if reg.image_only and not image:
            out.append(f"trial.regularizers: {reg.name!r} transforms images [H, W, C]; this dataset's examples "
                       f"have shape {tuple(model.data_shape)}")
        if isinstance(reg, topk.TopK) and not topk.generator_loss_is_per_fake(model.loss_fn):
            out.append("trial.regularizers: 'topk' needs a loss whose G term is a mean over the fakes")
        if isinstance(reg, consistency.LatentCR) and model.g_bn_per_pack_slot and model.pack > 1:
            out.append("trial.regularizers: 'zcr' with gan_step.g_bn_per_pack_slot reorders G's samples; "
                       "use one of them")
    if augmentation is not None:
        out += augmentation.problems(tuple(model.data_shape))
    return out


# --- state ---------------------------------------------------------------------------------------------------

def init_state(regularizers, augmentation) -> Dict[str, Any]:
    """The initial `objective_state`: an entry per method that keeps state."""
    methods = list(regularizers) + ([augmentation] if augmentation is not None else [])
    return {m.name: m.init_state() for m in methods if m.init_state()}


# --- the train step's hooks (gan/train_step.py) --------------------------------------------------------------

class Augmenter:
    """The augmentation of one pass of D over [real; fake], its draws made once (`real`, `fake`: the images as D
    sees them; the given arrays themselves without an augmentation)."""

    def __init__(self, augmentation, objective_state, key, real, fake):
        self.augmentation, self.real, self.fake = augmentation, real, fake
        self.params = None
        if augmentation is not None:
            both = jnp.concatenate([real, fake])
            self.params = augmentation.draw(key, objective_state.get(augmentation.name, {}), both.shape)
            self.real, self.fake = jnp.split(augmentation.apply(both, self.params), 2)

    def like_fakes(self, images):
        """Images [B, ...] augmented with the draws the fakes got (unchanged without an augmentation)."""
        if self.augmentation is None:
            return images
        return self.augmentation.apply(images, take(self.params, slice(self.real.shape[0], None)))


def _sub_key(key, index: int):
    return jax.random.fold_in(key, index)


def _overrides(reg, method: str) -> bool:
    return getattr(type(reg), method) is not getattr(Regularizer, method)


def with_d_terms(model, state, total, augment, d_params, d_collections, real_logits, fake_logits, z_key, key,
                 labels=(None, None)):
    """Inside D's objective: (total + the regularizers' D terms, objective_state after this update, their logs).

    Each regularizer gets its own key (`key` folded with its index); ADA counts the signs of `real_logits`.
    `labels`: (real, fake) class labels of a conditional trial, handed to the regularizers' passes.
    """
    objective_state, logs = dict(state.objective_state), {}
    if any(_overrides(reg, "discriminator_term") for reg in model.regularizers):
        fields = dict(real=augment.real, fake=augment.fake, real_logits=real_logits, fake_logits=fake_logits,
                      discriminate=lambda x, y=None: model.discriminate(d_params, d_collections, x, y=y)[0],
                      z=model.sample_z(z_key, augment.fake.shape[0]), step=state.step,
                      generate=lambda z, y=None: jax.lax.stop_gradient(
                          model.generate(state.g.params, state.g.norm_collections, z, train=True, y=y)[0]),
                      augment_like_fakes=augment.like_fakes, real_labels=labels[0], fake_labels=labels[1])
    for index, reg in enumerate(model.regularizers):
        if _overrides(reg, "discriminator_term"):
            ctx = DiscriminatorPass(key=_sub_key(key, index), **fields)
            term, new_state, reg_logs = reg.discriminator_term(ctx, state.objective_state.get(reg.name, {}))
            if reg.name in objective_state:
                objective_state[reg.name] = new_state
            total = total + term
            logs.update(reg_logs)
    augmentation = model.augment
    if augmentation is not None and augmentation.name in objective_state:
        objective_state[augmentation.name] = augmentation.observe(objective_state[augmentation.name], real_logits)
    return total, objective_state, logs


def sown_heads(model, state, x):
    """What D, in training mode and with this state's parameters, sows into its "heads" collection on images x
    (packed as the step packs them; the newest value of each name). D's normalization updates are dropped."""
    variables = {"params": state.d.params, **state.d.norm_collections}
    _, sown = model.discriminator.apply(variables, model.pack_batch(x), train=True,
                                        mutable=list(state.d.norm_collections) + ["heads"])
    return {name: values[-1] for name, values in sown.get("heads", {}).items()}


def generator_objective(model, state, g_params, fake, real_logits, fake_logits, z_key, key, labels=None):
    """Inside G's objective: (G's adversarial loss, the loss G minimizes, logs). Without regularizers both are
    `loss_fn`'s G loss; top-k replaces the first, zCR and the orthogonal regularization add to the second.
    `labels`: the class labels G was given for `fake` (conditional trials)."""
    if not model.regularizers:
        g_loss = model.loss_fn(real_logits, fake_logits)[1]
        return g_loss, g_loss, {}
    images_per_step = model.n_disc * fake.shape[0]
    g_loss, logs = model.loss_fn(real_logits, fake_logits)[1], {}
    for reg in model.regularizers:
        replaced = reg.generator_loss(model.loss_fn, real_logits, fake_logits, state.step, images_per_step)
        if replaced is not None:
            g_loss, logs = replaced[0], dict(replaced[1])
            break
    total = g_loss
    fields = dict(z=model.sample_z(z_key, fake.shape[0]), fake=fake, real_logits=real_logits,
                  fake_logits=fake_logits, step=state.step, labels=labels, params=g_params,
                  generate=lambda z, y=None: model.generate(g_params, state.g.norm_collections, z, train=True,
                                                            y=y)[0])
    fields["discriminate_heads"] = lambda x: sown_heads(model, state, x)
    for index, reg in enumerate(model.regularizers):
        if _overrides(reg, "generator_term"):
            term, reg_logs = reg.generator_term(GeneratorPass(key=_sub_key(key, index), **fields),
                                                state.objective_state.get(reg.name, {}))
            total = total + term
            logs.update(reg_logs)
    return g_loss, total, logs


def end_step(model, state, batch: int):
    """objective_state after the generator step `state.step` (ADA adjusts p); `batch` real images per D update."""
    augmentation = model.augment
    if augmentation is None or augmentation.name not in state.objective_state:
        return state.objective_state
    name = augmentation.name
    return {**state.objective_state,
            name: augmentation.end_step(state.objective_state[name], state.step, model.n_disc * batch)}


def logs_finite(model, metrics):
    """Whether the regularizers' logged values are finite (a NaN there is a diverged step too); True without."""
    if not model.regularizers:
        return True
    ok = jnp.asarray(True)
    for key, value in metrics.items():
        if key not in CORE_LOGS:
            ok = ok & jnp.all(jnp.isfinite(value))
    return ok


def augmentation_logs(model, state) -> Dict[str, Any]:
    """The values the augmentation logs with the step's losses (ADA: p and the r_t of its last adjustment)."""
    augmentation = model.augment
    return {} if augmentation is None else augmentation.logs(state.objective_state.get(augmentation.name, {}))
