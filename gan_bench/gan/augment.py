"""Augmentations of what D sees: `trial.augment = 'none' | 'diffaugment' | 'ada'`.

An augmentation transforms every image the discriminator judges, real and fake, in D's updates and in G's
(DiffAugment, Zhao et al. 2020; ADA, Karras et al. 2020): D never sees an un-augmented image, and G is trained
through the augmentation, so it must be differentiable in the images. Random parameters are drawn per image
(`draw`) apart from applying them (`apply`): tests apply fixed draws, and a regularizer can give perturbed
fakes the very draws their originals got (`take`).

An augmentation may keep state in the train state (ADA's probability p): `init_state`, `observe` (after each
of D's updates, with D's logits on the real images), `end_step` (after each generator step) and `logs` (the
values logged with the step's losses). Each is a frozen dataclass bound in gin under its name, so its
hyperparameters are gin keys (`diffaugment.policy = 'translation,cutout'`, `ada.target = 0.6`).
"""
from typing import Any, Dict, List

import jax

from gan_bench.registry import Registry

# name -> class of the augmentation; 'none' -> None (no augmentation: the train step is unchanged).
AUGMENTATIONS: Registry = Registry("augmentation")
AUGMENTATIONS.register("none")(None)


class Augmentation:
    """The interface of an augmentation; the defaults are those of a stateless one."""

    name = ""

    def init_state(self) -> Dict[str, Any]:
        """The state this augmentation keeps in `GANState.objective_state[name]` ({}: none)."""
        return {}

    def draw(self, key, state, shape) -> Dict[str, Any]:
        """Random parameters for a batch of images of shape [N, H, W, C]: arrays with a leading axis N."""
        raise NotImplementedError

    def apply(self, images, params):
        """The images [N, H, W, C] transformed with drawn parameters; differentiable in `images`."""
        raise NotImplementedError

    def observe(self, state, real_logits):
        """The state after one of D's updates, given D's logits on the (augmented) real images."""
        del real_logits
        return state

    def end_step(self, state, step, images_per_step):
        """The state after generator step `step` (counted from 0), `images_per_step` real images shown to D."""
        del step, images_per_step
        return state

    def logs(self, state) -> Dict[str, Any]:
        """Scalars logged with the step's losses."""
        del state
        return {}

    def problems(self, image_shape=None) -> List[str]:
        """What is wrong with this augmentation's hyperparameters (gin keys), or with the data shape when given."""
        return image_problems(self.name, image_shape)


def image_problems(name: str, image_shape) -> List[str]:
    """An augmentation of images needs images: [H, W, C] data."""
    if image_shape is not None and len(image_shape) != 3:
        return [f"trial.augment = {name!r} transforms images [H, W, C]; this dataset's examples have shape "
                f"{tuple(image_shape)}"]
    return []


def take(params: Dict[str, Any], rows: slice) -> Dict[str, Any]:
    """The drawn parameters of the images `rows` of the batch they were drawn for."""
    return jax.tree_util.tree_map(lambda a: a[rows], params)
