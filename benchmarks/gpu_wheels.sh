#!/usr/bin/env bash
# Download the pure-Python wheels the GPU machine's image lacks (it has jax, flax, optax, torch, torchvision,
# scipy, pandas, pytest; it cannot download anything) into build/gpu_wheels/ (ignored by git), for
# benchmarks/gpu_check.sh to install there with `pip install --no-index --no-deps --target`.
# Run here, where a package index is reachable; carry build/gpu_wheels to the GPU machine with the tree.
#   bash benchmarks/gpu_wheels.sh            # Python 3.12 wheels (the GPU image's Python)
#   PY_VERSION=3.11 bash benchmarks/gpu_wheels.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${GAN_BENCH_WHEELS:-$ROOT/build/gpu_wheels}
mkdir -p "$DEST"
# gin-config and tensorboardX are known missing there; tabulate, tqdm, absl-py and protobuf are install
# requirements that gpu_check.sh installs only when that machine cannot import them.
python3 -m pip download --no-deps --python-version "${PY_VERSION:-3.12}" --only-binary=:all: -d "$DEST" \
    gin-config tensorboardX tabulate tqdm absl-py protobuf
ls -1 "$DEST"
