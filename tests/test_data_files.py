"""Local file formats, stacked MNIST and tensorflow-datasets (mocked), against independent facts.

Oracles: the facts in the shared data README (tests/shared_data.py finds the folder) and the published MNIST / Fashion-MNIST label
statistics; arrays the tests write themselves in the IDX / CIFAR-10 binary / npz / PNG formats; hand
computed crop and TF1-bilinear values.
"""
import gzip
import os
import struct
import tempfile
import time

import numpy as np
import pytest
from PIL import Image

from gan_bench import data
from gan_bench.data import tfds_data

from shared_data import SHARED_DATA as SHARED, requires_shared

needs_shared = requires_shared()


def _write_idx(path, array, magic=None):
    array = np.asarray(array, np.uint8)
    magic = magic if magic is not None else 0x0800 + array.ndim
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()
    with (gzip.open if path.endswith(".gz") else open)(path, "wb") as f:
        f.write(raw)


def _write_mnist_like(folder, n_train=12, n_test=5, gz=True, seed=0):
    """Tiny IDX set whose image n is filled with 20 * label (so the digit can be read back from pixels)."""
    os.makedirs(folder, exist_ok=True)
    rng, ext = np.random.default_rng(seed), ".gz" if gz else ""
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.broadcast_to((20 * labels)[:, None, None], (n, 28, 28)).copy()
        images[:, 0, 0] = 255  # one known bright pixel
        _write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}"), images)
        _write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"), labels)
        out[prefix] = (images, labels)
    return out


# ---------------------------------------------------------------- real files in the shared data folder
@needs_shared
def test_real_mnist_counts_first_labels_and_class_counts():
    train, test = (data.load("mnist", s, data_dir=SHARED) for s in ("train", "test"))
    assert (train.num_examples, test.num_examples, train.shape, train.num_classes) == (60000, 10000, (28, 28, 1), 10)
    assert train.labels(np.arange(10)).tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.labels(np.arange(10)).tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    counts = np.bincount(train.labels(np.arange(60000)), minlength=10)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    x = test.get(np.arange(100))
    assert x.dtype == np.float32 and x.min() == -1.0 and x.max() == 1.0 and x[:, 0, 0, 0].tolist() == [-1.0] * 100


@needs_shared
def test_real_fashion_mnist_is_balanced():
    for split, n in (("train", 6000), ("test", 1000)):
        ds = data.load("fashion_mnist", split, data_dir=SHARED)
        assert np.bincount(ds.labels(np.arange(ds.num_examples))).tolist() == [n] * 10


@needs_shared
@pytest.mark.parametrize("split,n,means,lo,hi", [
    ("test", 1000, (0.4967, 0.4867, 0.4510), 86, 112),
    ("train", 4000, (0.4916, 0.4818, 0.4447), 366, 422)])
def test_real_cifar10_subset_counts_channel_means_and_balance(split, n, means, lo, hi):
    ds = data.load("cifar10", split, data_dir=SHARED)
    assert (ds.num_examples, ds.shape) == (n, (32, 32, 3))
    x = ds.get(np.arange(n))
    np.testing.assert_allclose(((x + 1) / 2).mean(axis=(0, 1, 2)), means, atol=5e-4)
    counts = np.bincount(ds.labels(np.arange(n)), minlength=10)
    assert counts.min() == lo and counts.max() == hi
    if split == "test":  # official test label order: cat, ship, ship, airplane, frog, ...
        assert ds.labels(np.arange(5)).tolist() == [3, 8, 8, 0, 6]


@needs_shared
def test_real_stacked_mnist_channels_are_the_indexed_digits():
    ds = data.load("stacked_mnist", "test", data_dir=SHARED, seed=3)
    base = data.load("mnist", "test", data_dir=SHARED)
    x, y = ds.get(np.arange(20)), ds.labels(np.arange(20))
    assert x.shape == (20, 28, 28, 3) and ds.num_classes == 1000 and ds.num_examples == 10000
    for c in range(3):
        np.testing.assert_array_equal(x[..., c], base.get(ds.triples[:20, c])[..., 0])
    d = base.labels(ds.triples[:20].ravel()).reshape(20, 3)
    np.testing.assert_array_equal(y, d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2])


# ---------------------------------------------------------------- tiny files written here
@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip_and_subfolder_lookup(tmp_path, gz):
    written = _write_mnist_like(str(tmp_path / "mnist"), gz=gz)
    ds = data.load("mnist", "train", data_dir=str(tmp_path))  # found in the 'mnist' sub-folder
    images, labels = written["train"]
    np.testing.assert_array_equal(ds.labels(np.arange(12)), labels)
    x = ds.get(np.arange(12))
    np.testing.assert_allclose(x[..., 0], images / 127.5 - 1.0, atol=1e-6)
    assert x[0, 0, 0, 0] == 1.0
    assert data.load("mnist", "test", data_dir=str(tmp_path)).num_examples == 5


def test_idx_bad_magic_truncation_and_missing_labels_name_the_file(tmp_path):
    folder = tmp_path / "m"
    _write_mnist_like(str(folder))
    bad = str(folder / "train-images-idx3-ubyte.gz")
    _write_idx(bad, np.zeros((3, 28, 28)), magic=2049)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*magic number 2049, expected 2051"):
        data.load("fashion_mnist", data_dir=str(folder))
    with gzip.open(bad, "wb") as f:
        f.write(struct.pack(">IIII", 2051, 3, 28, 28) + bytes(100))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*bytes, expected"):
        data.load("fashion_mnist", data_dir=str(folder))
    os.remove(str(folder / "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(ValueError, match=r"no test labels IDX file"):
        data.load("mnist", "test", data_dir=str(folder))


def _cifar_records(labels, seed):
    rng = np.random.default_rng(seed)
    planes = rng.integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    raw = b"".join(bytes([lab]) + planes[i].tobytes() for i, lab in enumerate(labels))
    return planes, raw


def test_cifar_binary_plane_order_file_order_and_gz(tmp_path):
    p1, r1 = _cifar_records([1, 2], 0)
    p2, r2 = _cifar_records([9], 1)
    p10, r10 = _cifar_records([0], 2)
    pt, rt = _cifar_records([4, 5, 6], 3)
    (tmp_path / "data_batch_1.bin").write_bytes(r1)
    with gzip.open(str(tmp_path / "data_batch_2_first1.bin.gz"), "wb") as f:
        f.write(r2)
    (tmp_path / "data_batch_10.bin").write_bytes(r10)  # natural order: 1, 2, 10
    (tmp_path / "test_batch.bin").write_bytes(rt)
    (tmp_path / "batches.meta.txt").write_text("airplane\n")
    train = data.load("cifar10", "train", data_dir=str(tmp_path))
    assert train.labels(np.arange(4)).tolist() == [1, 2, 9, 0]
    planes = np.concatenate([p1, p2, p10])
    x = train.get(np.arange(4))
    # Record pixel (channel c, row r, col k) must land at [n, r, k, c].
    np.testing.assert_allclose(x[1, 5, 7], planes[1, :, 5, 7] / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_allclose(x, planes.transpose(0, 2, 3, 1) / 127.5 - 1.0, atol=1e-6)
    assert data.load("cifar10", "test", data_dir=str(tmp_path)).labels(np.arange(3)).tolist() == [4, 5, 6]


def test_cifar_bad_record_size_and_label_name_the_file(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(bytes(3073 * 2 + 5))
    with pytest.raises(ValueError, match=r"test_batch\.bin.*not a multiple.*3073"):
        data.load("cifar10", "test", data_dir=str(tmp_path))
    (tmp_path / "test_batch.bin").write_bytes(bytes([12]) + bytes(3072))
    with pytest.raises(ValueError, match=r"test_batch\.bin.*label byte 12"):
        data.load("cifar10", "test", data_dir=str(tmp_path))


def test_npz_uint8_float_keys_and_errors(tmp_path):
    u8 = np.array([0, 51, 255], np.uint8).reshape(3, 1, 1)
    np.savez(str(tmp_path / "train.npz"), images=u8, labels=np.array([0, 2, 1]))
    ds = data.load("npz", "train", data_dir=str(tmp_path))
    assert ds.shape == (1, 1, 1) and ds.num_classes == 3
    np.testing.assert_allclose(ds.get(np.arange(3)).ravel(), [-1.0, -0.6, 1.0], atol=1e-6)
    np.savez(str(tmp_path / "f.npz"), x=np.array([0.0, 0.25, 1.0], np.float32).reshape(3, 1, 1, 1))
    np.testing.assert_allclose(data.load("npz", path=str(tmp_path / "f.npz")).get(np.arange(3)).ravel(),
                               [-1.0, -0.5, 1.0])
    np.savez(str(tmp_path / "g_test.npz"), x=np.array([-1.0, 0.5], np.float64).reshape(2, 1, 1))
    np.testing.assert_allclose(data.load("npz", "test", path=str(tmp_path / "g_{split}.npz")).get([0, 1]).ravel(),
                               [-1.0, 0.5])
    np.savez(str(tmp_path / "bad.npz"), pixels=u8)
    with pytest.raises(ValueError, match=r"bad\.npz has no key 'images' or 'x'; keys: pixels"):
        data.load("npz", path=str(tmp_path / "bad.npz"))
    np.savez(str(tmp_path / "range.npz"), x=np.array([0.0, 3.0]).reshape(2, 1, 1))
    with pytest.raises(ValueError, match=r"range\.npz.*\[0, 1\] or \[-1, 1\]"):
        data.load("npz", path=str(tmp_path / "range.npz"))
    with pytest.raises(ValueError, match="file not found"):
        data.load("npz", path=str(tmp_path / "none.npz"))


def test_image_folder_png_values_resize_and_size_mismatch(tmp_path):
    img = np.zeros((6, 4, 3), np.uint8)
    img[..., 0], img[2, 1] = 255, (10, 20, 30)
    Image.fromarray(img).save(str(tmp_path / "a.png"))
    Image.fromarray(np.full((6, 4, 3), 128, np.uint8)).save(str(tmp_path / "b.png"))
    (tmp_path / "notes.txt").write_text("not an image")
    ds = data.load("image_folder", data_dir=str(tmp_path))
    assert ds.num_examples == 2 and ds.shape == (6, 4, 3)
    np.testing.assert_allclose(ds.get([0])[0, 2, 1], np.array([10, 20, 30]) / 127.5 - 1, atol=1e-6)
    small = data.load("image_folder", path=str(tmp_path), size=2).get([1])
    assert small.shape == (1, 2, 2, 3)
    np.testing.assert_allclose(small, 128 / 127.5 - 1, atol=1e-6)  # a flat image stays flat
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(str(tmp_path / "c.png"))
    with pytest.raises(ValueError, match="differ in size"):
        data.load("image_folder", path=str(tmp_path))


def test_stacked_mnist_labels_decode_from_channel_pixels(tmp_path):
    _write_mnist_like(str(tmp_path), n_train=30, n_test=7)
    ds = data.load("stacked_mnist", "train", data_dir=str(tmp_path), num_examples=200, seed=1)
    x = ds.get(np.arange(200))
    digits = np.rint((x[:, 5, 5, :] + 1) * 127.5 / 20).astype(int)  # pixel = 20 * digit
    np.testing.assert_array_equal(ds.labels(np.arange(200)), digits @ np.array([100, 10, 1]))
    np.testing.assert_array_equal(x, data.load("stacked_mnist", data_dir=str(tmp_path),
                                               num_examples=200, seed=1).get(np.arange(200)))
    other = data.load("stacked_mnist", data_dir=str(tmp_path), num_examples=200, seed=2)
    assert not np.array_equal(ds.triples, other.triples)
    with pytest.raises(ValueError, match="seed"):
        data.load("stacked_mnist", data_dir=str(tmp_path), seed=-1)


# ---------------------------------------------------------------- tensorflow-datasets
def test_crop_or_pad_and_tf1_bilinear_by_hand():
    img = np.arange(5 * 4).reshape(5, 4, 1)
    np.testing.assert_array_equal(tfds_data.crop_or_pad(img, 3, 2)[..., 0], [[5, 6], [9, 10], [13, 14]])
    padded = tfds_data.crop_or_pad(np.ones((1, 2, 1)), 3, 4)[..., 0]
    np.testing.assert_array_equal(padded, [[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    # TF1 mapping: out[i] samples in[i * in/out]; 4 -> 2 picks rows/cols 0 and 2.
    src = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    np.testing.assert_array_equal(tfds_data.tf1_bilinear_resize(src, 2, 2)[..., 0], [[0, 2], [8, 10]])
    # 2 -> 4: positions 0, 0.5, 1, 1.5 (clamped to the last sample).
    up = tfds_data.tf1_bilinear_resize(np.array([[0.0, 10.0]]).reshape(1, 2, 1), 1, 4)[0, :, 0]
    np.testing.assert_allclose(up, [0, 5, 10, 10])


@pytest.mark.parametrize("name,shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3)),
                                        ("celeb_a", (64, 64, 3)), ("lsun_bedroom", (128, 128, 3)),
                                        ("imagenet_32", (32, 32, 3))])
def test_tfds_mocked_shapes_and_range(tmp_path, name, shape):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=4):
        ds = data.load(name, "test", data_dir=str(tmp_path))
        x = ds.get(np.arange(4))
        assert ds.num_examples == 4 and ds.shape == shape and x.shape == (4,) + shape
        assert x.dtype == np.float32 and -1.0 <= x.min() and x.max() <= 1.0 and x.std() > 0
        if ds.num_classes is not None:
            assert ds.labels(np.arange(4)).shape == (4,)


def test_tfds_unprepared_fails_fast_naming_dataset_dir_and_command(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    start = time.time()
    with pytest.raises(ValueError) as err:
        data.load("celeb_a", "train", data_dir=str(tmp_path))
    assert time.time() - start < 5.0
    msg = str(err.value)
    assert "'celeb_a'" in msg and str(tmp_path) in msg and f"tfds build celeb_a --data_dir={tmp_path}" in msg
    with pytest.raises(ValueError, match=r"no local files.*tfds build mnist"):
        data.load("mnist", "train", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"'imagenet_64' has no split 'dev'"):
        data.load("imagenet_64", "dev", data_dir=str(tmp_path))


def test_tfds_unprepared_leaves_nothing_in_the_temp_folder(tmp_path, monkeypatch):
    """tensorflow-datasets makes a temporary folder (mkdtemp, suffix 'tfds') for the dataset info of a builder
    that has none prepared, and never removes it: one empty folder per failed load, hundreds on a machine
    that runs the suite often. The oracle is the temp folder's listing before and after."""
    pytest.importorskip("tensorflow_datasets")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for name in ("celeb_a", "lsun_bedroom"):
        with pytest.raises(ValueError, match="tfds build"):
            data.load(name, "train", data_dir=str(tmp_path / "data"))
    assert sorted(os.listdir(scratch)) == []
    assert tempfile.gettempdir() == str(scratch)  # the process's temp folder is the one it was
