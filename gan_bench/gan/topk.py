"""Top-k training (Sinha et al. 2020, "Top-k Training of GANs: Improving GAN Performance by Throwing Away Bad
Samples"): G's loss uses only the k fakes D scores highest, the others get no gradient.

k = int(max(gamma^epoch, nu) * B) of the B fakes of G's update (at least 1): all of them in the first epoch,
then a factor gamma = 0.99 fewer each epoch, never fewer than nu = 0.5 of them (the paper's defaults; the
authors' code, built on Mimicry, takes `int(rate * N)`). An epoch is one pass of D's real-image stream over the
training set: epoch = floor(step * B * n_disc / N) at generator step `step`, N the training examples (after
`trial.train_fraction`), the same epochs `gan_bench.data.batch_indices` draws its permutations by. k is logged
as `topk_k`.

G's loss on the selection is the mean of the per-fake losses `loss_fn(real, [d_i])` over it, which equals
`loss_fn(real, top-k fakes)` for every loss whose generator term is a mean over the fakes; a loss where the fakes
interact (relativistic_average) is refused (`generator_loss_is_per_fake`).
"""
import dataclasses

import gin
import jax
import jax.numpy as jnp
import numpy as np

from gan_bench.gan.regularizers import REGULARIZERS, Regularizer, number_problems


def generator_loss_is_per_fake(loss_fn) -> bool:
    """Whether G's loss of `loss_fn` is the mean over the fakes of a loss of each (checked on fixed numbers)."""
    rng = np.random.default_rng(0)
    real = jnp.asarray(rng.normal(size=5), jnp.float32)
    fake = jnp.asarray(rng.normal(size=4), jnp.float32)
    whole = float(loss_fn(real, fake)[1])
    each = np.mean([float(loss_fn(real, fake[i:i + 1])[1]) for i in range(4)])
    return abs(whole - each) <= 1e-5 * max(1.0, abs(whole))


@REGULARIZERS.register("topk", gin_configurables=("topk",))
@gin.configurable("topk", denylist=["train_examples"])
@dataclasses.dataclass(frozen=True)
class TopK(Regularizer):
    gamma: float = 0.99
    min_fraction: float = 0.5  # nu
    train_examples: int = 0  # N, set from the training data when the model is built (not a gin key)
    name = "topk"

    def k(self, step, batch: int, images_per_step: int):
        """The number of fakes G learns from at generator step `step` (an int32 array)."""
        epoch = jnp.floor_divide(jnp.asarray(step, jnp.int32) * images_per_step, self.train_examples)
        rate = jnp.maximum(jnp.power(jnp.float32(self.gamma), epoch.astype(jnp.float32)),
                           jnp.float32(self.min_fraction))
        return jnp.maximum(jnp.floor(rate * batch).astype(jnp.int32), 1)

    def generator_loss(self, loss_fn, real_logits, fake_logits, step, images_per_step):
        if self.train_examples <= 0:
            raise ValueError("topk: the number of training examples was not set when the model was built")
        batch = fake_logits.shape[0]
        k = self.k(step, batch, images_per_step)
        per_fake = jax.vmap(lambda d: loss_fn(real_logits, d[None])[1])(fake_logits)
        rank = jnp.zeros((batch,), jnp.int32).at[jnp.argsort(-fake_logits)].set(jnp.arange(batch, dtype=jnp.int32))
        chosen = rank < k
        return jnp.sum(jnp.where(chosen, per_fake, 0.0)) / k, {"topk_k": k}

    def problems(self):
        return number_problems("topk", [
            ("gamma", self.gamma, lambda v: 0 < v <= 1, "a number in (0, 1]"),
            ("min_fraction", self.min_fraction, lambda v: 0 < v <= 1, "a number in (0, 1]")])
