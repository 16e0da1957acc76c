"""One cache-folder resolver for the whole project, and atomic streamed writes."""
import ast
import os

import pytest

from gan_bench import atomic, cache_dirs

_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gan_bench")


def test_root_and_kinds(monkeypatch, tmp_path):
    monkeypatch.delenv(cache_dirs.ENV_CACHE, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dirs.cache_root() == str(tmp_path / "home" / ".cache" / "gan_bench")
    monkeypatch.setenv(cache_dirs.ENV_CACHE, str(tmp_path / "env"))
    assert cache_dirs.cache_root() == str(tmp_path / "env")
    assert cache_dirs.cache_root(str(tmp_path / "given")) == str(tmp_path / "given")
    assert cache_dirs.cache_dir("reference_stats") == str(tmp_path / "env" / "reference_stats")
    monkeypatch.setenv("GAN_BENCH_JAX_CACHE", str(tmp_path / "jax"))
    assert cache_dirs.cache_dir("jax_cache", env="GAN_BENCH_JAX_CACHE") == str(tmp_path / "jax")
    with pytest.raises(ValueError, match="one plain folder name"):
        cache_dirs.cache_dir("../elsewhere")
    assert not os.path.exists(tmp_path / "env")  # resolving creates nothing


def test_every_cache_user_resolves_through_cache_dirs(monkeypatch, tmp_path):
    from gan_bench.metrics import mnist_classifier, weights
    monkeypatch.setenv(cache_dirs.ENV_CACHE, str(tmp_path))
    assert weights.cache_dir() == str(tmp_path) == mnist_classifier.default_cache_dir()
    offenders = []  # string constants naming the cache variable or folder, anywhere but in cache_dirs.py
    for folder, _, files in os.walk(_PACKAGE):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".py") and path != os.path.join(_PACKAGE, "cache_dirs.py"):
                tree = ast.parse(open(path, encoding="utf-8").read())
                offenders += [f"{path}:{node.lineno}" for node in ast.walk(tree) if isinstance(node, ast.Constant)
                              and node.value in ("GAN_BENCH_CACHE", ".cache", "~/.cache", "~/.cache/gan_bench")]
    assert offenders == []


def test_atomic_file_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "blob.bin"
    target.write_bytes(b"old")
    with atomic.atomic_file(str(target)) as f:
        f.write(b"new ")
        f.write(b"content")
        assert target.read_bytes() == b"old"  # not visible before the block ends
    assert target.read_bytes() == b"new content"
    with pytest.raises(RuntimeError, match="checksum"):
        with atomic.atomic_file(str(target), suffix=".part") as f:
            f.write(b"half")
            raise RuntimeError("checksum mismatch")
    assert target.read_bytes() == b"new content" and os.listdir(tmp_path) == ["blob.bin"]
