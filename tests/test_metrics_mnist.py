"""The MNIST classifier used for Stacked MNIST mode counts, on the real MNIST files (skipped when absent, failed when absent under CI)."""
import functools
import gzip
import os
import time

import numpy as np
import pytest

from gan_bench.metrics import mnist_classifier

from hlo_precision import contraction_levels
from shared_data import requires_shared, shared_path

MNIST_DIR = shared_path("mnist")
needs_mnist = requires_shared("mnist")


@functools.lru_cache(maxsize=None)
def read_idx(name):
    """Images [N, 28, 28, 1] in [-1, 1] or labels [N], parsed from the IDX header independently of gan_bench."""
    raw = gzip.open(os.path.join(MNIST_DIR, name)).read()
    magic = int.from_bytes(raw[:4], "big")
    if magic == 2049:
        return np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28, 1)
    return images.astype(np.float32) / 127.5 - 1.0


@needs_mnist
def test_small_training_learns_and_cache_round_trips(tmp_path):
    x, y = read_idx("train-images-idx3-ubyte.gz")[:2000], read_idx("train-labels-idx1-ubyte.gz")[:2000]
    xt, yt = read_idx("t10k-images-idx3-ubyte.gz")[:1000], read_idx("t10k-labels-idx1-ubyte.gz")[:1000]
    params = mnist_classifier.train_classifier(x, y, epochs=2, batch_size=32, lr=2e-3)
    assert mnist_classifier.accuracy(params, xt, yt) > 0.85  # chance is 0.1

    # the cache: a trained classifier is written once and read back with identical predictions; a v1 file
    # (possibly trained at a GPU's TF32 default) is never read
    (tmp_path / "mnist_classifier_v1.msgpack").write_bytes(b"not a classifier")
    first = mnist_classifier.load_or_train(cache_dir=str(tmp_path), train=(x[:256], y[:256]), test=(xt, yt))
    assert os.path.isfile(tmp_path / "mnist_classifier_v2.msgpack")
    second = mnist_classifier.load_or_train(cache_dir=str(tmp_path))  # no data needed: read from the cache
    np.testing.assert_array_equal(first(xt), second(xt))
    assert second.test_accuracy == pytest.approx(first.test_accuracy)


def test_bad_shape():
    with pytest.raises(ValueError, match="28, 28, 1"):
        mnist_classifier.train_classifier(np.zeros((4, 32, 32, 1)), np.zeros(4))


@pytest.mark.slow
@needs_mnist
def test_full_training_reaches_99_percent(tmp_path):
    train = (read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz"))
    test = (read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz"))
    start = time.perf_counter()
    classifier = mnist_classifier.load_or_train(cache_dir=str(tmp_path), train=train, test=test)
    print(f"MNIST test accuracy {classifier.test_accuracy:.4f} after {time.perf_counter() - start:.0f} s")
    assert classifier.test_accuracy >= 0.99


def test_training_and_prediction_run_at_full_float32_on_every_backend():
    """Both programs pin float32 themselves (a GPU would otherwise train and predict in TF32): read from the
    lowered programs, whose 2 convolutions and 2 dense layers (forward; and their gradients in training) must
    all be HIGHEST whatever the caller's default."""
    import jax  # pylint: disable=import-outside-toplevel
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
    import optax  # pylint: disable=import-outside-toplevel

    params = jax.eval_shape(mnist_classifier.MnistCNN().init, jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))
    x, y = jax.ShapeDtypeStruct((8, 28, 28, 1), jnp.float32), jax.ShapeDtypeStruct((8,), jnp.int32)
    tx = optax.adam(1e-3)
    with jax.default_matmul_precision("bfloat16"):
        predict = contraction_levels(mnist_classifier._logits.lower(params, x).as_text())
        train = contraction_levels(mnist_classifier._train_step.lower(tx, params, jax.eval_shape(tx.init, params),
                                                                      x, y).as_text())
    assert predict == ["HIGHEST"] * 4
    assert len(train) >= 4 + 7 and set(train) == {"HIGHEST"}  # forward, then 7 or 8 gradient contractions
