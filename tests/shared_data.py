"""Where the tests find the shared real-data files (MNIST, Fashion-MNIST, a CIFAR-10 subset).

`$GAN_BENCH_SHARED_DATA` if set, else `<repo>/../shared/data`. The package never needs these files; they are
test and benchmark input only. A test that needs them skips when they are absent, except under `CI=true`,
where it fails: a CI run whose real-data tests silently skip would pass without checking anything.
"""
import functools
import os

import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("GAN_BENCH_SHARED_DATA") or os.path.normpath(
    os.path.join(_REPO, "..", "shared", "data"))


def shared_path(*parts: str) -> str:
    return os.path.join(SHARED_DATA, *parts)


def requires_shared(*parts: str):
    """Decorator: run the test only when `SHARED_DATA/<parts>` exists (fail instead of skipping under CI)."""
    path = shared_path(*parts)

    def decorate(test):
        @functools.wraps(test)
        def wrapper(*args, **kwargs):
            if not os.path.exists(path):
                message = (f"shared test data {path} is missing (set $GAN_BENCH_SHARED_DATA or put the shared "
                           f"folder beside the repository)")
                if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                    pytest.fail(message)
                pytest.skip(message)
            return test(*args, **kwargs)
        return wrapper
    return decorate
