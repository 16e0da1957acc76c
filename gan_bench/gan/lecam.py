"""LeCam regularization (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under Limited Data").

R_LC = E_x[relu(D(x) - alpha_F)^2] + E_z[relu(alpha_R - D(G(z)))^2], where alpha_R and alpha_F are exponential
moving averages of D's mean output on real and on fake images, added to D's loss with weight lambda. This is the
authors' code (google/lecam-gan, biggan_cifar/losses.py `lecam_reg`); the paper writes the two terms without the
relu. As in their training function, each of D's updates first moves the anchors with this update's means
(detached; decay 0 before `start_step`, so the anchors then follow the latest means), then evaluates R_LC with
them, and the term is added only after `start_step` generator steps (their `ema_losses(start_itr=1000)` and
`itr > start_itr`). Defaults: decay 0.99, start_step 1000, weight 0.3 (their CIFAR-10 scripts,
biggan_cifar/scripts/lc-*-cifar10*.sh, `--LC 0.3`). The anchors live in the train state (checkpointed) and
R_LC (unweighted) is logged as `lecam`.
"""
import dataclasses

import gin
import jax
import jax.numpy as jnp

from gan_bench.gan.regularizers import REGULARIZERS, Regularizer, number_problems


@REGULARIZERS.register("lecam", gin_configurables=("lecam",))
@gin.configurable("lecam")
@dataclasses.dataclass(frozen=True)
class LeCam(Regularizer):
    weight: float = 0.3
    decay: float = 0.99
    start_step: int = 1000
    name = "lecam"

    def init_state(self):
        return {"real": jnp.zeros((), jnp.float32), "fake": jnp.zeros((), jnp.float32)}

    def discriminator_term(self, ctx, state):
        decay = jnp.where(ctx.step < self.start_step, 0.0, self.decay)
        real_mean = jnp.mean(jax.lax.stop_gradient(ctx.real_logits))
        fake_mean = jnp.mean(jax.lax.stop_gradient(ctx.fake_logits))
        anchors = {"real": decay * state["real"] + (1.0 - decay) * real_mean,
                   "fake": decay * state["fake"] + (1.0 - decay) * fake_mean}
        reg = (jnp.mean(jnp.square(jax.nn.relu(ctx.real_logits - anchors["fake"])))
               + jnp.mean(jnp.square(jax.nn.relu(anchors["real"] - ctx.fake_logits))))
        term = jnp.where(ctx.step > self.start_step, self.weight * reg, 0.0)
        return term, anchors, {"lecam": reg}

    def problems(self):
        return number_problems("lecam", [
            ("weight", self.weight, lambda v: v >= 0, "a number >= 0"),
            ("decay", self.decay, lambda v: 0 <= v < 1, "a number in [0, 1)"),
            ("start_step", self.start_step, lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")])
