"""FID Inception weights: torch-format parsing without torch, BN folding, download, hash checks, cache."""
import hashlib
import http.server
import importlib.util
import os
import pickle
import threading
import warnings

import numpy as np
import pytest

from gan_bench.metrics import weights

_spec = importlib.util.spec_from_file_location(
    "torch_format", os.path.join(os.path.dirname(__file__), "torch_reference", "torch_format.py"))
torch_format = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(torch_format)


# ------------------------------------------------------------------ parsing
@pytest.mark.parametrize("legacy", [False, True])
def test_read_state_dict_rebuilds_views_offsets_and_dtypes(tmp_path, legacy):
    shared = np.arange(12, dtype=np.float32) * 0.5
    counter = np.array([7], dtype=np.int64)
    tensors = [("a", "0", 0, (3, 4), (4, 1)),  # contiguous
               ("a_t", "0", 0, (4, 3), (1, 4)),  # transposed view of the same storage
               ("c", "0", 4, (2, 2), (4, 1)),  # offset view
               ("n", "1", 0, (), ())]  # 0-d int64, like num_batches_tracked
    path = tmp_path / "sd.pth"
    torch_format.write_pth(path, tensors, {"0": shared, "1": counter}, legacy=legacy)
    state = weights.read_state_dict(str(path))
    assert list(state) == ["a", "a_t", "c", "n"]
    expected_a = [[shared[4 * i + j] for j in range(4)] for i in range(3)]  # element (i,j) at 4i + j
    np.testing.assert_array_equal(state["a"], expected_a)
    np.testing.assert_array_equal(state["a_t"], np.array(expected_a).T)
    np.testing.assert_array_equal(state["c"], [[2.0, 2.5], [4.0, 4.5]])  # elements 4, 5, 8, 9
    assert state["a"].dtype == np.float32 and state["n"].dtype == np.int64 and int(state["n"]) == 7


def test_restricted_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / "was_run"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    payload = pickle.dumps({"w": Exploit()}, protocol=2)
    assert b"system" in payload
    with pytest.raises(pickle.UnpicklingError, match="refused global (os|posix).system"):
        weights.RestrictedUnpickler(__import__("io").BytesIO(payload), {}).load()
    path = tmp_path / "evil.pth"
    import zipfile
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
    with pytest.raises(ValueError, match="refused global"):
        weights.read_state_dict(str(path))
    assert not marker.exists()


def test_tensor_outside_its_storage_is_rejected(tmp_path):
    path = tmp_path / "bad.pth"
    torch_format.write_pth(path, [("w", "0", 2, (3,), (1,))], {"0": np.zeros(4, np.float32)})
    with pytest.raises(ValueError, match="does not fit storage"):
        weights.read_state_dict(str(path))


# ------------------------------------------------------------------ conversion (BN folding)
def _conv_bn_state(rng, prefix, out_ch, in_ch, kh, kw):
    return {f"{prefix}.conv.weight": rng.normal(size=(out_ch, in_ch, kh, kw)).astype(np.float32),
            f"{prefix}.bn.weight": rng.uniform(0.5, 1.5, out_ch).astype(np.float32),
            f"{prefix}.bn.bias": rng.normal(size=out_ch).astype(np.float32),
            f"{prefix}.bn.running_mean": rng.normal(size=out_ch).astype(np.float32),
            f"{prefix}.bn.running_var": rng.uniform(0.5, 2.0, out_ch).astype(np.float32),
            f"{prefix}.bn.num_batches_tracked": np.array(3, np.int64)}


def test_folded_conv_matches_conv_then_inference_batchnorm():
    rng = np.random.default_rng(0)
    state = _conv_bn_state(rng, "Mixed_6b.branch7x7_2", 3, 2, 1, 3)
    state.update({"fc.weight": rng.normal(size=(5, 3)).astype(np.float32),
                  "fc.bias": rng.normal(size=5).astype(np.float32),
                  "AuxLogits.fc.weight": np.zeros((1, 1), np.float32)})
    params = weights.convert_state_dict(state)
    layer = params["Mixed_6b"]["branch7x7_2"]["conv"]
    assert layer["kernel"].shape == (1, 3, 2, 3)
    x = rng.normal(size=(4, 6, 2))  # [H, W, C_in], valid 1x3 correlation
    w = state["Mixed_6b.branch7x7_2.conv.weight"].astype(np.float64)
    conv = np.zeros((4, 4, 3))
    for o in range(3):  # torch Conv2d is cross-correlation: sum_i,dx w[o,i,0,dx] x[y, x+dx, i]
        for i in range(2):
            for dx in range(3):
                conv[:, :, o] += w[o, i, 0, dx] * x[:, dx:dx + 4, i]
    p = "Mixed_6b.branch7x7_2.bn."
    bn = (conv - state[p + "running_mean"]) / np.sqrt(state[p + "running_var"] + 1e-3) * state[p + "weight"] \
        + state[p + "bias"]
    folded = np.zeros((4, 4, 3))
    for dx in range(3):
        folded += np.einsum("hwi,io->hwo", x[:, dx:dx + 4], layer["kernel"][0, dx])
    np.testing.assert_allclose(folded + layer["bias"], bn, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(params["fc"]["kernel"], state["fc.weight"].T)


def test_conversion_names_missing_and_unexpected_keys():
    rng = np.random.default_rng(1)
    state = _conv_bn_state(rng, "Conv2d_1a_3x3", 2, 3, 3, 3)
    state.update({"fc.weight": np.zeros((2, 2), np.float32), "fc.bias": np.zeros(2, np.float32)})
    broken = dict(state)
    del broken["Conv2d_1a_3x3.bn.running_var"]
    with pytest.raises(ValueError, match="Conv2d_1a_3x3.bn.running_var"):
        weights.convert_state_dict(broken)
    with pytest.raises(ValueError, match="unexpected entries.*extra.weight"):
        weights.convert_state_dict({**state, "extra.weight": np.zeros(1, np.float32)})


# ------------------------------------------------------------------ download and cache
@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www on 127.0.0.1 and counts GET requests."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def _small_pth(root):
    path = root / "small.pth"
    torch_format.write_state_dict(path, {"fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                                         "fc.bias": np.ones(2, np.float32)})
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_verifies_hash_then_uses_the_cache(server, tmp_path, monkeypatch):
    root, base, hits = server
    pth, digest = _small_pth(root)
    cache = tmp_path / "cache"
    monkeypatch.delenv(weights.ENV_WEIGHTS, raising=False)
    got = weights.resolve_weights_file(url=f"{base}/small.pth", sha256=digest, cache=str(cache))
    assert got == str(cache / weights.WEIGHTS_FILENAME)
    assert open(got, "rb").read() == pth.read_bytes() and len(hits) == 1
    again = weights.resolve_weights_file(url=f"{base}/small.pth", sha256=digest, cache=str(cache))
    assert again == got and len(hits) == 1  # second run: server not hit
    assert sorted(os.listdir(cache)) == [weights.WEIGHTS_FILENAME]  # no temp file left behind
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the downloaded file's hash is the expected one: no warning
        params = weights.load_params(url=f"{base}/small.pth", sha256=digest, cache=str(cache))
    np.testing.assert_array_equal(params["fc"]["kernel"], [[0, 3], [1, 4], [2, 5]])
    assert any(name.endswith(".msgpack") for name in os.listdir(cache))


def test_download_accepts_torch_hub_hash_prefix(server, tmp_path):
    root, base, _ = server
    _, digest = _small_pth(root)
    got = weights.download(f"{base}/small.pth", str(tmp_path / "w.pth"), digest[:8])
    assert hashlib.sha256(open(got, "rb").read()).hexdigest() == digest


def test_hash_mismatch_raises_and_leaves_nothing(server, tmp_path):
    root, base, _ = server
    _, digest = _small_pth(root)
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    cache = tmp_path / "cache"
    with pytest.raises(weights.InceptionWeightsError, match="SHA-256 mismatch"):
        weights.resolve_weights_file(url=f"{base}/small.pth", sha256=wrong, cache=str(cache))
    assert os.listdir(cache) == []


def test_offline_error_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv(weights.ENV_WEIGHTS, raising=False)
    import socket
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cache = tmp_path / "cache"
    with pytest.raises(weights.InceptionWeightsError) as info:
        weights.resolve_weights_file(url=f"http://127.0.0.1:{port}/w.pth", cache=str(cache))
    message = str(info.value)
    for needle in (str(cache / weights.WEIGHTS_FILENAME), weights.ENV_WEIGHTS, weights.WEIGHTS_URL,
                   "weights_path"):
        assert needle in message
    assert os.listdir(cache) == []


def test_given_path_env_var_and_bad_path(tmp_path, monkeypatch):
    pth, _ = _small_pth(tmp_path)
    monkeypatch.setenv(weights.ENV_WEIGHTS, str(pth))
    assert weights.resolve_weights_file() == str(pth)
    with pytest.raises(ValueError, match="weights_path=.*missing.pth.*is not a file"):
        weights.resolve_weights_file(str(tmp_path / "missing.pth"))
    monkeypatch.setenv(weights.ENV_WEIGHTS, str(tmp_path / "gone.pth"))
    with pytest.raises(ValueError, match="GAN_BENCH_INCEPTION_WEIGHTS.*gone.pth"):
        weights.resolve_weights_file()


def test_user_file_with_other_hash_warns_and_converted_cache_is_reused(tmp_path, monkeypatch):
    pth, _ = _small_pth(tmp_path)
    cache = tmp_path / "cache"
    weights._MEMO.clear()
    with pytest.warns(UserWarning, match="not the published FID Inception weights"):
        first = weights.load_params(str(pth), cache=str(cache))
    weights._MEMO.clear()

    def refuse(path):
        raise AssertionError("the .pth was parsed again instead of reading the msgpack cache")

    monkeypatch.setattr(weights, "read_state_dict", refuse)
    with pytest.warns(UserWarning):
        second = weights.load_params(str(pth), cache=str(cache))
    np.testing.assert_array_equal(second["fc"]["kernel"], first["fc"]["kernel"])
    weights._MEMO.clear()
