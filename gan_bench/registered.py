"""Import every module that registers a pluggable piece, so gin and the registries know all names."""
# pylint: disable=unused-import
from gan_bench.gan import losses, penalties, schedules, train_step  # noqa: F401
from gan_bench import data, nets  # noqa: F401
from gan_bench.metrics import evaluate  # noqa: F401
