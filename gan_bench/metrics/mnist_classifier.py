"""A small MNIST CNN that gan_bench trains itself, for counting Stacked MNIST modes.

VEEGAN / PacGAN count Stacked MNIST modes with a pre-trained MNIST classifier; we train our own (no download)
once and cache its parameters as msgpack (atomic write) in the cache root (`gan_bench.cache_dirs`:
`$GAN_BENCH_CACHE` or `~/.cache/gan_bench`). Architecture: conv3x3(32)-relu-maxpool2-conv3x3(64)-relu-
maxpool2-dense(128)-relu-dense(10); Adam, learning rate 1e-3 with cosine decay to 0, batch 128, 4 epochs
(3 epochs at a constant 1e-3 gave 98.85 %). Inputs [B, 28, 28, 1] in [-1, 1].

Training and prediction run at full float32 on every backend (`jax.default_matmul_precision("float32")` while
tracing): JAX's default runs float32 convolutions as TF32 on recent GPUs, which would train a different
classifier there and move digits near a decision boundary, so that mode counts taken on a GPU and on a CPU
would not be counted by the same rule.
"""
import functools
import json
import os
from typing import Optional, Tuple

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_bench import cache_dirs
from gan_bench.atomic import atomic_write_bytes

# v2: trained at pinned float32. A v1 file may have been trained at JAX's GPU default (TF32), a different
# classifier, so it is not read: v2 is trained afresh once.
_FILE_NAME = "mnist_classifier_v2.msgpack"


class MnistCNN(nn.Module):
    @nn.compact
    def __call__(self, x):  # x [B, 28, 28, 1] -> logits [B, 10]
        x = nn.max_pool(nn.relu(nn.Conv(32, (3, 3))(x)), (2, 2), (2, 2))
        x = nn.max_pool(nn.relu(nn.Conv(64, (3, 3))(x)), (2, 2), (2, 2))
        x = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
        return nn.Dense(10)(x)


def default_cache_dir(cache_dir: Optional[str] = None) -> str:
    """`cache_dir`, else the project's cache root (`gan_bench.cache_dirs.cache_root`)."""
    return cache_dirs.cache_root(cache_dir)


def _check_images(images, labels=None) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        raise ValueError(f"MNIST images must be [N, 28, 28, 1] (or [N, 28, 28]) in [-1, 1], got {images.shape}")
    if labels is not None and np.shape(labels) != (len(images),):
        raise ValueError(f"labels must be [N={len(images)}], got shape {np.shape(labels)}")
    return images


def train_classifier(images, labels, *, epochs: int = 4, batch_size: int = 128, lr: float = 1e-3,
                     seed: int = 0):
    """Parameters of MnistCNN trained with Adam on images [N, 28, 28, 1] in [-1, 1] and labels [N] (0..9)."""
    images = _check_images(images, labels)
    labels = np.asarray(labels, np.int32)
    steps = max(1, epochs * (len(images) // batch_size))
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps))
    params = MnistCNN().init(jax.random.PRNGKey(seed), jnp.zeros((1, 28, 28, 1)))
    opt_state = tx.init(params)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            params, opt_state = _train_step(tx, params, opt_state, images[idx], labels[idx])
    return params


@functools.partial(jax.jit, static_argnums=0)
def _train_step(tx, params, opt_state, x, y):
    with jax.default_matmul_precision("float32"):  # read while tracing (module docstring)
        def loss_fn(p):
            return optax.softmax_cross_entropy_with_integer_labels(MnistCNN().apply(p, x), y).mean()
        grads = jax.grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state


@jax.jit
def _logits(params, x):
    with jax.default_matmul_precision("float32"):  # read while tracing (module docstring)
        return MnistCNN().apply(params, x)


def predict(params, images, batch_size: int = 1000) -> np.ndarray:
    """Predicted digits [N] for images [N, 28, 28, 1] in [-1, 1]."""
    images = _check_images(images)
    return np.concatenate([np.asarray(_logits(params, images[i:i + batch_size])).argmax(axis=1)
                           for i in range(0, len(images), batch_size)])


def accuracy(params, images, labels) -> float:
    return float((predict(params, images) == np.asarray(labels)).mean())


class MnistClassifier:
    """Callable images [N, 28, 28, 1] -> digits [N], with the test accuracy it was trained to."""

    def __init__(self, params, test_accuracy: float):
        self.params, self.test_accuracy = params, test_accuracy

    def __call__(self, images) -> np.ndarray:
        return predict(self.params, images)


def _load_split(split: str, data_dir: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    from gan_bench import data  # pylint: disable=import-outside-toplevel
    dataset = data.load("mnist", split=split, data_dir=data_dir)
    idx = np.arange(dataset.num_examples)
    return dataset.get(idx), dataset.labels(idx)


def load_or_train(data_dir: Optional[str] = None, cache_dir: Optional[str] = None,
                  train: Optional[tuple] = None, test: Optional[tuple] = None) -> MnistClassifier:
    """The cached classifier, or a freshly trained one (then cached).

    Training data: `train=(images, labels)` / `test=(images, labels)` arrays, else
    `gan_bench.data.load("mnist", split, data_dir)`.
    """
    path = os.path.join(default_cache_dir(cache_dir), _FILE_NAME)
    template = MnistCNN().init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))
    if os.path.isfile(path):
        with open(path, "rb") as f:
            stored = flax.serialization.msgpack_restore(f.read())
        params = flax.serialization.from_state_dict(template, stored["params"])
        return MnistClassifier(params, float(json.loads(stored["meta"])["test_accuracy"]))
    train = train if train is not None else _load_split("train", data_dir)
    test = test if test is not None else _load_split("test", data_dir)
    params = train_classifier(*train)
    test_accuracy = accuracy(params, *test)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    blob = {"params": flax.serialization.to_state_dict(jax.device_get(params)),
            "meta": json.dumps({"test_accuracy": test_accuracy, "num_train": len(train[0]),
                                "precision": "float32"})}
    atomic_write_bytes(path, flax.serialization.msgpack_serialize(blob))
    return MnistClassifier(params, test_accuracy)
