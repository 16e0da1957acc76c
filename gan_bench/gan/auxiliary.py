"""Class labels and D's auxiliary heads in the train step: AC-GAN's class head and SS-GAN's rotation head.

Labels (`trial.g_conditioning`, `trial.d_conditioning`): real images come with their dataset labels; G's labels
are drawn uniformly from the classes (the same labels then go with the fakes into D's batch), as compare_gan's
`sampled_labels`.

AC-GAN (Odena et al. 2017, `trial.d_conditioning = 'ac'`): D has a linear class head on its features; the
cross-entropy of that head on the real images (their labels) and on the fakes (the labels G was given) is added
to D's loss, and the one on the fakes to G's, each weighted by `trial.ac_weight`.

SS-GAN (Chen et al. 2019, `trial.self_supervision = 'rotation'`), as compare_gan `gans/ssgan.py` with its
`rotated_batch_size` equal to the batch: the last quarter (n = B // 4) of the real and of the fake images is
rotated by 90, 180 and 270 degrees and appended, D sees [real; rot(real[-n:]); fake; rot(fake[-n:])] in one
batch, the adversarial loss uses the logits of the B unrotated images of each half, and D's 4-way rotation head
is trained on the last 4n images of each half with labels [0]*n + [1]*n + [2]*n + [3]*n. Weights are
compare_gan's defaults: 1.0 for the rotation loss on real images in D's loss, 0.2 for the one on fakes in G's.
The cross-entropy is the exact log-softmax one (compare_gan adds 1e-10 inside its log of the softmax).

The heads are read from the flax collection "heads" that D sows into (`class_logits` [B, C],
`rotation_logits` [B, 4]); without auxiliary heads D runs exactly as an unconditional trial's.
"""
import dataclasses
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import optax

NUM_ROTATIONS = 4
ROTATION_WEIGHT_D, ROTATION_WEIGHT_G = 1.0, 0.2  # compare_gan SSGAN.weight_rotation_loss_d / _g


def cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label]; logits [B, K], labels int [B]."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels))


def sample_labels(key, n: int, num_classes: int):
    """n labels drawn uniformly from [0, num_classes), int32."""
    return jax.random.randint(key, (n,), 0, num_classes, jnp.int32)


def rotate(images, quarter_turns: int):
    """Images [B, H, W, C] rotated by quarter_turns * 90 degrees counter-clockwise (tf.image.rot90's sense)."""
    return jnp.rot90(images, k=quarter_turns, axes=(1, 2))


def rotated_count(batch: int) -> int:
    """How many images of each half are rotated three times (compare_gan: rotated_batch_size // 4)."""
    return batch // NUM_ROTATIONS


def with_rotations(images):
    """[B, ...] -> [B + 3n, ...]: the images, then their last n rotated by 90, 180 and 270 degrees."""
    n = rotated_count(images.shape[0])
    tail = images[-n:]
    return jnp.concatenate([images] + [rotate(tail, k) for k in range(1, NUM_ROTATIONS)])


def labels_with_rotations(labels):
    """Labels of `with_rotations(images)`: each rotated copy keeps its image's class label."""
    n = rotated_count(labels.shape[0])
    return jnp.concatenate([labels] + [labels[-n:]] * (NUM_ROTATIONS - 1))


def rotation_targets(batch: int):
    """The rotation labels of the last 4n images of a half: [0]*n + [1]*n + [2]*n + [3]*n."""
    n = rotated_count(batch)
    return jnp.repeat(jnp.arange(NUM_ROTATIONS, dtype=jnp.int32), n)


@dataclasses.dataclass(frozen=True)
class Judgement:
    """D's outputs on one pass over [real; fake]: adversarial logits of each half and the unweighted auxiliary
    cross-entropies (`ac_real`, `ac_fake`, `rotation_real`, `rotation_fake`, those the trial has)."""

    real_logits: jnp.ndarray
    fake_logits: jnp.ndarray
    aux: Dict[str, jnp.ndarray]


def judge(discriminate_heads, real, fake, y_real: Optional[jnp.ndarray], y_fake: Optional[jnp.ndarray],
          rotation: bool, class_head: bool):
    """One pass of D over the real and fake images with what the trial's heads need.

    `discriminate_heads(x, y) -> (logits [N], heads dict, updated collections)`. Returns (Judgement, updated).
    """
    b = real.shape[0]
    if rotation:
        real_in, fake_in = with_rotations(real), with_rotations(fake)
        y_real_in = None if y_real is None else labels_with_rotations(y_real)
        y_fake_in = None if y_fake is None else labels_with_rotations(y_fake)
    else:
        real_in, fake_in, y_real_in, y_fake_in = real, fake, y_real, y_fake
    y = None if y_real_in is None else jnp.concatenate([y_real_in, y_fake_in])
    logits, heads, updated = discriminate_heads(jnp.concatenate([real_in, fake_in]), y)
    real_logits, fake_logits = jnp.split(logits, 2)
    aux = {}
    if class_head:
        class_real, class_fake = jnp.split(heads["class_logits"], 2)
        aux["ac_real"] = cross_entropy(class_real[:b], y_real)
        aux["ac_fake"] = cross_entropy(class_fake[:b], y_fake)
    if rotation:
        targets = rotation_targets(b)
        rot_real, rot_fake = jnp.split(heads["rotation_logits"], 2)
        aux["rotation_real"] = cross_entropy(rot_real[-targets.shape[0]:], targets)
        aux["rotation_fake"] = cross_entropy(rot_fake[-targets.shape[0]:], targets)
    return Judgement(real_logits[:b], fake_logits[:b], aux), updated


def d_aux_term(aux: Dict[str, jnp.ndarray], ac_weight):
    """What the heads add to D's loss: ac_weight * (CE real + CE fake) + 1.0 * rotation CE on real images."""
    term = jnp.zeros((), jnp.float32)
    if "ac_real" in aux:
        term = term + ac_weight * (aux["ac_real"] + aux["ac_fake"])
    if "rotation_real" in aux:
        term = term + ROTATION_WEIGHT_D * aux["rotation_real"]
    return term


def g_aux_term(aux: Dict[str, jnp.ndarray], ac_weight):
    """What the heads add to G's loss: ac_weight * CE on the fakes + 0.2 * rotation CE on the fakes."""
    term = jnp.zeros((), jnp.float32)
    if "ac_fake" in aux:
        term = term + ac_weight * aux["ac_fake"]
    if "rotation_fake" in aux:
        term = term + ROTATION_WEIGHT_G * aux["rotation_fake"]
    return term


# The step's logs of the heads: D's pass (unweighted cross-entropies) and G's pass (`g_` + the fake ones).
LOG_KEYS = ("ac_real", "ac_fake", "rotation_real", "rotation_fake", "g_ac_fake", "g_rotation_fake")
