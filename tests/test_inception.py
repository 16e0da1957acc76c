"""FID Inception network: resize/normalisation oracles, closed-form forward, and PyTorch parity."""
import hashlib
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_bench.metrics import inception, inception_net, weights
from hlo_precision import contraction_levels

_HERE = os.path.dirname(__file__)


def _load_helper(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(_HERE, "torch_reference", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


torch_format = _load_helper("torch_format")
random_fid_weights = _load_helper("random_fid_weights")


# ------------------------------------------------------------------ resize and normalisation
def test_bilinear_resize_matches_pil_upsampling():
    x = np.random.default_rng(0).random((32, 20)).astype(np.float32)
    pil = np.asarray(Image.fromarray(x, mode="F").resize((299, 299), Image.BILINEAR))  # (width, height)
    ours = inception.resize_matrix(32, 299, "bilinear") @ x @ inception.resize_matrix(20, 299, "bilinear").T
    np.testing.assert_allclose(ours, pil, atol=5e-6)  # our weights are float32-rounded, like torch's


def test_bilinear_downscale_has_no_antialiasing():
    # torch align_corners=False, 5 -> 3: sources 5/3*(i+0.5)-0.5 = 1/3, 2, 11/3; two taps each
    expected = [[2 / 3, 1 / 3, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1 / 3, 2 / 3]]
    np.testing.assert_allclose(inception.resize_matrix(5, 3, "bilinear"), expected, atol=1e-6)


def test_tf1_resize_uses_asymmetric_coordinates():
    # TF1 resize_bilinear(align_corners=False): source i*in/out, upper tap clamped to in-1
    np.testing.assert_allclose(inception.resize_matrix(3, 2, "tf1"), [[1, 0, 0], [0, 0.5, 0.5]], atol=1e-7)
    np.testing.assert_allclose(inception.resize_matrix(2, 4, "tf1"),
                               [[1, 0], [0.5, 0.5], [0, 1], [0, 1]], atol=1e-7)
    with pytest.raises(ValueError, match="resize='bicubic'"):
        inception.resize_matrix(2, 4, "bicubic")


def _pil_clean_resize(image_u8):
    """clean-fid's clean mode, step by step: each channel as a float32 'F' image, PIL bicubic to 299x299."""
    channels = [np.asarray(Image.fromarray(image_u8[:, :, c].astype(np.float32), mode="F")
                           .resize((299, 299), resample=Image.BICUBIC)) for c in range(image_u8.shape[2])]
    return np.stack(channels, axis=-1)


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (64, 64, 3), (17, 40, 3), (400, 400, 3)])
def test_clean_resize_matches_pil_float_bicubic(shape):
    # Shapes whose two passes every Pillow version runs width first (Pillow 13 runs the height pass first
    # when the height shrinks much more than the width: the same weights, rounded once differently).
    u = np.random.default_rng(sum(shape)).integers(0, 256, (2,) + shape, dtype=np.uint8)
    ours = inception.resize(u, "clean")
    assert ours.shape == (2, 299, 299, 3) and ours.dtype == np.float32
    for image, resized in zip(u, ours):
        reference = _pil_clean_resize(image)
        np.testing.assert_allclose(resized, np.broadcast_to(reference, (299, 299, 3)), rtol=0, atol=1e-5)
    assert ours.min() < 0 or ours.max() > 255 or shape[0] >= 299  # bicubic overshoot is kept, not clipped


def _bilinear_oracle(image, mode):
    """Per output pixel: the source coordinate as torch CPU (half-pixel, one fused multiply-add, clamped at 0)
    or TF1 (asymmetric, one float32 product) computes it, two taps per axis (upper one clamped to the edge),
    products in float64."""
    h, w = image.shape[:2]
    out = np.zeros((299, 299, image.shape[2]))

    def source(i, size):
        scale = np.float32(np.float32(size) / np.float32(299))
        if mode == "bilinear":  # fma(scale, i + 0.5, -0.5): exact in float64, rounded once to float32
            x = max(np.float32(float(scale) * (i + 0.5) - 0.5), np.float32(0.0))
        else:
            x = np.float32(float(scale) * i)
        low = min(int(np.floor(x)), size - 1)
        lam = np.float32(min(max(x - np.float32(low), 0.0), 1.0))
        return low, min(low + 1, size - 1), float(np.float32(1.0) - lam), float(lam)

    for i in range(299):
        y0, y1, wy0, wy1 = source(i, h)
        for j in range(299):
            x0, x1, wx0, wx1 = source(j, w)
            out[i, j] = (wy0 * (wx0 * image[y0, x0] + wx1 * image[y0, x1])
                         + wy1 * (wx0 * image[y1, x0] + wx1 * image[y1, x1]))
    return out


@pytest.mark.parametrize("mode", ["bilinear", "tf1"])
def test_bilinear_and_tf1_resize_match_a_per_pixel_oracle(mode):
    rng = np.random.default_rng(7)
    for shape in ((32, 32, 3), (20, 45, 1), (331, 320, 3)):
        u = rng.integers(0, 256, (1,) + shape, dtype=np.uint8)
        expected = _bilinear_oracle(u[0].astype(np.float64), mode)
        np.testing.assert_allclose(inception.resize(u, mode)[0], np.broadcast_to(expected, (299, 299, 3)),
                                   rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", inception.RESIZE_MODES)
def test_device_preprocess_is_normalized_resize(mode):
    rng = np.random.default_rng(8)
    u = rng.integers(0, 256, (2, 24, 40, 3), dtype=np.uint8)
    on_device = np.asarray(inception.preprocess(jnp.asarray(u), mode))
    np.testing.assert_allclose(on_device, inception.normalize(inception.resize(u, mode), mode), atol=2e-6)
    floats = u.astype(np.float32) / 127.5 - 1.0  # [-1, 1] input: the same pixels, not quantized again
    np.testing.assert_allclose(inception.resize(floats, mode), inception.resize(u, mode), atol=1e-4)
    expected_input = {"bilinear": 2 * (128 / 255) - 1, "tf1": 0.0, "clean": 0.0}[mode]
    flat = np.full((1, 10, 10, 3), 128, np.uint8)  # a constant image stays constant under every resize
    np.testing.assert_allclose(np.asarray(inception.preprocess(jnp.asarray(flat), mode)), expected_input, atol=1e-6)


def test_preprocess_normalisation_and_grayscale():
    u = np.random.default_rng(1).integers(0, 256, (1, 299, 299, 3), dtype=np.uint8)
    as_float = u.astype(np.float32) / 127.5 - 1.0
    fid_input = np.asarray(inception.preprocess(jnp.asarray(u), "bilinear"))
    np.testing.assert_allclose(fid_input, 2 * (u / 255.0) - 1, atol=1e-6)  # pytorch-fid: 2x-1 on x/255
    np.testing.assert_allclose(np.asarray(inception.preprocess(jnp.asarray(as_float), "bilinear")),
                               fid_input, atol=1e-6)
    np.testing.assert_allclose(np.asarray(inception.preprocess(jnp.asarray(u), "tf1")),
                               (u - 128.0) / 128.0, atol=1e-6)  # the TF graph's Sub 128, Mul 1/128
    gray = u[..., :1]
    rgb = np.asarray(inception.preprocess(jnp.asarray(np.repeat(gray, 3, -1)), "bilinear"))
    np.testing.assert_allclose(np.asarray(inception.preprocess(jnp.asarray(gray), "bilinear")), rgb, atol=1e-6)


def test_average_pool_excludes_padding_like_tensorflow():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    out = np.asarray(inception._avg_pool_same(x))[0, :, :, 0]
    assert out[0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)  # corner: 4 real pixels
    assert out[0, 1] == pytest.approx((0 + 1 + 2 + 4 + 5 + 6) / 6)  # edge: 6 real pixels
    assert out[1, 1] == pytest.approx(np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))


@pytest.mark.parametrize("precision,level", [("float32", "HIGHEST"), ("tensorfloat32", "HIGH"),
                                             ("bfloat16", "DEFAULT")])
def test_extraction_runs_the_network_at_the_precision_it_records(precision, level):
    """Each of the network's 94 convolutions and its classifier run at the level `precision` names; only the
    resize's two matmuls stay float32. Read from the program handed to XLA: a CPU computes float32 at every
    level, so the features cannot tell."""
    forward, _, _ = inception._compiled("bilinear", precision)
    variables = jax.eval_shape(inception_net.FIDInceptionV3().init, jax.random.key(0), jnp.zeros((1, 75, 75, 3)))
    text = forward.lower(variables, jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.uint8)).as_text()
    levels = contraction_levels(text)
    assert len(levels) == 94 + 1 + 2
    assert levels.count("HIGHEST") == (len(levels) if level == "HIGHEST" else 2)
    assert levels.count(level) == len(levels) - (0 if level == "HIGHEST" else 2)


def test_parameter_count_matches_torchvision():
    shapes = inception._param_shapes()
    total = sum(int(np.prod(s)) for s in shapes.values())
    folded_bn_biases = sum(int(np.prod(s)) for k, s in shapes.items() if k.endswith("conv/bias"))
    # torchvision inception_v3: 27,161,264 parameters; minus AuxLogits (conv0 1x1 768->128 + BN,
    # conv1 5x5 128->768 + BN, fc 768->1000), plus 8 more classes (1008-way fc on 2048 features).
    aux = 768 * 128 + 2 * 128 + 128 * 768 * 25 + 2 * 768 + 768 * 1000 + 1000
    expected_torch = 27_161_264 - aux + 8 * 2048 + 8
    assert total + folded_bn_biases == expected_torch  # BN has 2 params per channel, folded has 1 bias
    assert sum(k.endswith("conv/kernel") for k in shapes) == 94


def test_extract_rejects_bad_input_before_loading_weights(tmp_path):
    missing = str(tmp_path / "no_weights.pth")
    good = np.zeros((2, 8, 8, 3), np.uint8)
    cases = [(np.zeros((8, 8, 3), np.uint8), {}, "shape"), (np.zeros((2, 8, 8, 4), np.uint8), {}, "shape"),
             (np.zeros((2, 8, 8, 3), np.int32), {}, "dtype int32"),
             (np.full((2, 8, 8, 3), 1.5, np.float32), {}, r"span \[1.5, 1.5\]"),
             (np.full((2, 8, 8, 3), np.nan, np.float32), {}, "finite"),
             (good, {"resize": "area"}, "resize='area'"), (good, {"batch_size": 0}, "batch_size=0")]
    for images, kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            inception.extract(images, weights_path=missing, **kwargs)
    with pytest.raises(ValueError, match="no_weights.pth.*is not a file"):
        inception.extract(good, weights_path=missing)


# ------------------------------------------------------------------ forward through the real loading path
@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inception_weights")
    rng = np.random.default_rng(0)
    files = {}
    for name, zero in (("zero", True), ("random", False)):
        state = random_fid_weights.random_fid_state_dict(rng, zero)
        torch_format.write_state_dict(folder / f"{name}.pth", state)
        files[name] = (str(folder / f"{name}.pth"), state)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(weights.ENV_CACHE, str(folder / "cache"))
        yield files
    weights._MEMO.clear()


@pytest.mark.filterwarnings("ignore:.*not the published FID Inception weights")
def test_extract_closed_form_with_zero_kernels(weight_files):
    """With all kernels 0, every conv+BN+ReLU outputs relu(β − μγ/√(σ²+ε)); pool3 is Mixed_7c's."""
    path, state = weight_files["zero"]
    images = np.random.default_rng(2).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    out = inception.extract(images, batch_size=2, weights_path=path)  # 3 images: last batch padded

    def relu_bias(prefix):
        p = f"Mixed_7c.{prefix}.bn."
        b = state[p + "bias"] - state[p + "running_mean"] * state[p + "weight"] / np.sqrt(
            state[p + "running_var"].astype(np.float64) + 1e-3)
        return np.maximum(b, 0)

    order = ["branch1x1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"]
    pool3 = np.concatenate([relu_bias(name) for name in order])
    logits = state["fc.weight"].astype(np.float64) @ pool3 + state["fc.bias"]
    assert out["pool3"].shape == (3, 2048) and out["logits"].shape == (3, 1008)
    assert out["pool3"].dtype == np.float32
    np.testing.assert_allclose(out["pool3"], np.tile(pool3, (3, 1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["logits"], np.tile(logits, (3, 1)), rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore:.*not the published FID Inception weights")
def test_extract_uint8_and_float_inputs_agree(weight_files):
    path, _ = weight_files["random"]
    u = np.random.default_rng(3).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    from_uint8 = inception.extract(u, batch_size=2, weights_path=path)
    from_float = inception.extract(u.astype(np.float64) / 127.5 - 1.0, batch_size=2, weights_path=path)
    assert np.abs(from_uint8["pool3"]).max() > 1e-2  # the features are not trivially zero
    for key in ("pool3", "logits"):
        scale = np.abs(from_uint8[key]).max()
        assert np.abs(from_float[key] - from_uint8[key]).max() <= 1e-5 * scale
    assert not np.allclose(from_uint8["pool3"][0], from_uint8["pool3"][1])


@pytest.mark.filterwarnings("ignore:.*not the published FID Inception weights")
def test_extract_clean_mode_runs_the_network_on_the_clean_resize(weight_files):
    path, _ = weight_files["random"]
    u = np.random.default_rng(9).integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)
    ours = inception.extract(u, batch_size=2, weights_path=path, resize="clean", precision="float32")
    net_input = inception.normalize(inception.resize(u, "clean"), "clean")
    with jax.default_matmul_precision("float32"):
        pool3, logits = inception_net.FIDInceptionV3().apply(inception.load_variables(path), jnp.asarray(net_input))
    np.testing.assert_allclose(ours["pool3"], pool3, rtol=1e-4, atol=1e-4 * np.abs(pool3).max())
    np.testing.assert_allclose(ours["logits"], logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max())
    assert inception.network_identity(path) == {"network": inception.NETWORK,
                                                "weights_sha256": hashlib.sha256(open(path, "rb").read()).hexdigest()}
    with pytest.raises(ValueError, match="precision='float16'"):
        inception.extract(u, weights_path=path, precision="float16")


# ------------------------------------------------------------------ parity with PyTorch (skipped without it)
def _import_torch_reference():
    pytest.importorskip("torch")
    pytest.importorskip("torchvision")  # PyPI torchvision may fail beside a torch CPU build with RuntimeError
    return _load_helper("fid_inception_torch")


@pytest.mark.filterwarnings("ignore:.*not the published FID Inception weights")
@pytest.mark.parametrize("legacy_format", [False, True])
def test_parity_with_pytorch_fid_inception(tmp_path, monkeypatch, legacy_format):
    try:
        reference = _import_torch_reference()
    except (RuntimeError, OSError) as err:
        pytest.skip(f"torch/torchvision not usable here: {err}")
    import torch
    net = reference.build_fid_inception(seed=0)
    path = tmp_path / "random_fid_inception.pth"
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=not legacy_format)
    parsed = weights.read_state_dict(str(path))
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(parsed[key], value.numpy())
    monkeypatch.setenv(weights.ENV_CACHE, str(tmp_path / "cache"))
    rng = np.random.default_rng(4)
    small = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)  # upsampled to 299
    large = rng.uniform(-1, 1, (1, 331, 320, 3)).astype(np.float32)  # downscaled, no antialiasing
    cases = [(small, torch.from_numpy(small).permute(0, 3, 1, 2).float() / 255.0)]
    if not legacy_format:
        cases.append((large, (torch.from_numpy(large).permute(0, 3, 1, 2) + 1.0) / 2.0))
    for images, images01 in cases:
        with jax.default_matmul_precision("highest"):
            ours = inception.extract(images, batch_size=2, weights_path=str(path))
        pool3, logits = reference.pytorch_fid_features(net, images01)
        for name, theirs in (("pool3", pool3.numpy()), ("logits", logits.numpy())):
            rel = np.abs(ours[name] - theirs).max() / np.abs(theirs).max()
            print(f"parity {name} {images.shape} {images.dtype}: max rel. error {rel:.2e}")
            assert rel <= 1e-4, name
    weights._MEMO.clear()


def test_bilinear_weights_match_torch_interpolate():
    try:
        torch = pytest.importorskip("torch")
    except (RuntimeError, OSError) as err:
        pytest.skip(f"torch not usable here: {err}")
    import torch.nn.functional as F
    for size in (28, 32, 64, 320, 331, 512):
        eye = torch.eye(size, dtype=torch.float32)[None, None]  # resize rows only: weights appear as-is
        theirs = F.interpolate(eye, size=(299, size), mode="bilinear", align_corners=False)[0, 0].numpy()
        np.testing.assert_allclose(inception.resize_matrix(size, 299, "bilinear"), theirs, rtol=0, atol=1e-7)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*not the published FID Inception weights")
def test_extract_10k_images_with_bounded_memory(weight_files):
    """10k 32×32 images in one call: peak RSS stays near one batch's working set (12-21 min on 2 idle cores,
    by CPU model; 3.1 GB peak RSS on 2026-12-01)."""
    import resource
    import time
    path, _ = weight_files["random"]
    images = np.random.default_rng(5).integers(0, 256, (10_000, 32, 32, 3), dtype=np.uint8)
    start = time.time()
    out = inception.extract(images, batch_size=200, weights_path=path)
    seconds = time.time() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"10k images: {seconds:.0f} s ({10_000 / seconds:.2f} img/s), peak RSS {peak_gb:.2f} GB")
    assert out["pool3"].shape == (10_000, 2048) and np.isfinite(out["logits"]).all()
    assert peak_gb < 8.0
