"""Energy-based objectives for an autoencoder discriminator: BEGAN and EBGAN (`trial.loss = 'began' | 'ebgan'`).

With an autoencoder D (gan_bench/nets/autoencoder.py) D(x) is a per-example energy, the reconstruction error of
x, where the other losses read a logit. Each objective is a loss of `LOSSES` (the energy parts, which need
nothing but D's outputs) completed by a term with the regularizer interface (gan/regularizers.py) that holds the
objective's hyperparameters as gin keys and, for BEGAN, its state. `trial.loss` alone selects both: the parsed
configuration adds the term (`loss_terms`, read by `objective.configured_regularizers`), and a model built with
the loss but without its term is refused (`objective.model_problems`). The train step logs `d_loss` = E[D(x)]
(the loss's part), `d_real` / `d_fake` = the mean energies, and the terms' values below.

BEGAN (Berthelot et al. 2017, "BEGAN: Boundary Equilibrium Generative Adversarial Networks", eqs. 4 and 5):
  L_D = L(x) - k_t L(G(z)),  L_G = L(G(z)),  k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1),
with L the L1 reconstruction error (mean over pixels) and the convergence measure
M = L(x) + |gamma L(x) - L(G(z))| (section 3.4.1). k_t and M are logged as `began_k` / `began_m`. As in the
implementation the paper points to (carpedm20/BEGAN-tensorflow, trainer.py: `balance = gamma * d_loss_real -
g_loss`, k updated after both optimizers from the values computed before them, with one z draw for D and G),
k moves after each of D's updates by the energies of that update's pass, and D's update uses k_t. k_0 = 0 and
lambda_k = 0.001 as the paper ("lambda_k = 0.001 in our experiments"); gamma = 0.5 as that implementation's
default and the paper's CelebA figures. k lives in `GANState.objective_state['began']`, checkpointed, so a
resumed trial continues it exactly.

EBGAN (Zhao et al. 2017, "Energy-based Generative Adversarial Network", eqs. 1, 2 and 6):
  L_D = D(x) + [m - D(G(z))]^+,  L_G = D(G(z)) + lambda_PT f_PT(S),
  f_PT(S) = 1 / (N (N - 1)) sum_i sum_{j != i} (S_i^T S_j / (|S_i| |S_j|))^2,
S the encoder's embeddings of G's N samples in G's update (the discriminator writes them with
`self.sow('heads', 'embedding', h)`; the term runs D on G(z) alone for them, as the reference code's separate
pass over the fakes, so batch statistics there are the fakes'). D(x) is the mean squared reconstruction error.
Defaults: lambda_PT = 0.1 and m = 1, those of the MNIST implementation the EBGAN preset follows
(hwalsuklee/tensorflow-generative-model-collections EBGAN.py: `pt_loss_weight = 0.1`, `margin = max(1,
batch_size / 64)`); the margin is on the energy's scale, so it is a gin key to revisit with another energy. f_PT
is the paper's squared cosine (that implementation sums the cosines unsquared). Logged: `ebgan_hinge` (the mean hinge) and
`ebgan_pt` (f_PT, unweighted).
"""
import dataclasses
from typing import Tuple

import gin
import jax
import jax.numpy as jnp

from gan_bench.gan.losses import LOSSES
from gan_bench.gan.regularizers import Regularizer, number_problems


def _energy_parts(d_real_energy, d_fake_energy):
    return jnp.mean(d_real_energy), jnp.mean(d_fake_energy)


@LOSSES.register("began", gin_configurables=("began",))
def began(d_real_energy, d_fake_energy):
    """BEGAN's energy parts, (E[L(x)], E[L(G(z))]); the -k_t L(G(z)) of D's loss is `BEGANEquilibrium`'s."""
    return _energy_parts(d_real_energy, d_fake_energy)


@LOSSES.register("ebgan", gin_configurables=("ebgan",))
def ebgan(d_real_energy, d_fake_energy):
    """EBGAN's energy parts, (E[D(x)], E[D(G(z))]); the margin hinge and the pulling-away term are `EBGANTerms`'."""
    return _energy_parts(d_real_energy, d_fake_energy)


def pulling_away(embeddings):
    """f_PT of Zhao et al. 2017 (eq. 6) over a batch of embeddings [N, d] (N >= 2): the mean squared cosine
    similarity of the N (N - 1) ordered pairs of distinct rows."""
    s = embeddings.reshape(embeddings.shape[0], -1).astype(jnp.float32)
    n = s.shape[0]
    if n < 2:
        raise ValueError(f"the pulling-away term needs at least 2 embeddings, got {n}")
    unit = s * jax.lax.rsqrt(jnp.maximum(jnp.sum(s * s, axis=1, keepdims=True), 1e-12))
    cosine_sq = jnp.square(unit @ unit.T)
    return (jnp.sum(cosine_sq) - jnp.sum(jnp.diagonal(cosine_sq))) / (n * (n - 1))


def began_k_update(k, real_energy, fake_energy, gamma, lambda_k):
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) (Berthelot et al. 2017, eq. 4)."""
    return jnp.clip(k + lambda_k * (gamma * real_energy - fake_energy), 0.0, 1.0)


@gin.configurable("began")
@dataclasses.dataclass(frozen=True)
class BEGANEquilibrium(Regularizer):
    """BEGAN's equilibrium term: -k_t E[L(G(z))] on D's loss and the proportional control of k_t (module
    docstring)."""

    gamma: float = 0.5
    lambda_k: float = 0.001
    k_init: float = 0.0
    name = "began"

    def init_state(self):
        return {"k": jnp.asarray(self.k_init, jnp.float32)}

    def discriminator_term(self, ctx, state):
        k = state["k"]
        real = jnp.mean(jax.lax.stop_gradient(ctx.real_logits))
        fake = jnp.mean(jax.lax.stop_gradient(ctx.fake_logits))
        term = -k * jnp.mean(ctx.fake_logits)
        measure = real + jnp.abs(self.gamma * real - fake)
        new_k = began_k_update(k, real, fake, self.gamma, self.lambda_k)
        return term, {"k": new_k}, {"began_k": k, "began_m": measure}

    def problems(self):
        return number_problems("began", [
            ("gamma", self.gamma, lambda v: 0 < v <= 1, "a number in (0, 1]"),
            ("lambda_k", self.lambda_k, lambda v: v >= 0, "a number >= 0"),
            ("k_init", self.k_init, lambda v: 0 <= v <= 1, "a number in [0, 1]")])


@gin.configurable("ebgan")
@dataclasses.dataclass(frozen=True)
class EBGANTerms(Regularizer):
    """EBGAN's margin hinge on D's loss and pulling-away term on G's (module docstring)."""

    margin: float = 1.0
    pt_weight: float = 0.1
    name = "ebgan"

    def discriminator_term(self, ctx, state):
        hinge = jnp.mean(jax.nn.relu(self.margin - ctx.fake_logits))
        return hinge, state, {"ebgan_hinge": hinge}

    def generator_term(self, ctx, state):
        del state
        if self.pt_weight == 0:
            return jnp.zeros((), jnp.float32), {}
        heads = ctx.discriminate_heads(ctx.fake)  # the encoder on G(z) alone, as the reference code
        if "embedding" not in heads:
            raise ValueError("ebgan.pt_weight > 0 needs a discriminator that writes its encoder's embedding "
                             "(self.sow('heads', 'embedding', h)): one of the *_autoencoder architectures")
        pt = pulling_away(heads["embedding"])
        return self.pt_weight * pt, {"ebgan_pt": pt}

    def problems(self):
        return number_problems("ebgan", [
            ("margin", self.margin, lambda v: v > 0, "a number > 0"),
            ("pt_weight", self.pt_weight, lambda v: v >= 0, "a number >= 0")])


# trial.loss -> the term that completes it.
TERMS = {"began": BEGANEquilibrium, "ebgan": EBGANTerms}
began.completed_by = "began"
ebgan.completed_by = "ebgan"


def loss_terms(loss: str) -> Tuple[Regularizer, ...]:
    """The term that completes `trial.loss = loss`, built with its gin-bound hyperparameters (none for the
    other losses)."""
    return (TERMS[loss](),) if loss in TERMS else ()
