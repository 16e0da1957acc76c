#!/usr/bin/env bash
# PacGAN Table 1 (ring and grid; GAN, PacGAN2, PacGAN3, PacGAN4) on one GPU: the protocol of
# sweeps/pacgan_table1.gin with every variant's seeds trained together as one population (one vmapped step,
# `gan-bench sweep --population`), the 8 variants as concurrent workers sharing the GPU.
#   PACGAN_STEPS    generator steps per trial (default 16000: what fits in 8 minutes on one H200, where the 8
#                   populations of 10 ran at about 51 steps/s each, measured; the paper: 400000). That rate was
#                   measured before steps per call and before a batch's indices were cached: the host then spent
#                   17 ms per step loading a population's batches (1.0 ms since). Raise it from the steps_per_call
#                   stage of benchmarks/gpu_check.sh once a GPU has run it.
#   PACGAN_SEEDS    seeds per variant = population size (default 10, the paper's runs)
#   PACGAN_RESULTS  results folder (default results/pacgan_table1/gpu)
#   PACGAN_STEPS_PER_CALL  generator steps per compiled call (default 50; trial.steps_per_call: the same steps,
#                   one dispatch per call; where an action falls inside a call the loop takes single steps)
#   PACGAN_WORKERS  populations at once (default 8: every variant)
#   PACGAN_CONTINUE_TO  train the trials of an earlier run (same PACGAN_STEPS and PACGAN_SEEDS, so the same
#                   sweep file and trial ids) on to this many steps, each from its last checkpoint
#                   (`gan-bench sweep --continue_to`): a study longer than one session's GPU time, in parts
#   PYTHON          the interpreter (default python3)
# Works offline: gin-config and the other pure-Python wheels the GPU image lacks are installed from
# build/gpu_wheels (benchmarks/gpu_wheels.sh; or $GAN_BENCH_WHEELS) into a temporary folder on PYTHONPATH.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
steps=${PACGAN_STEPS:-16000}
seeds=${PACGAN_SEEDS:-10}
results=${PACGAN_RESULTS:-results/pacgan_table1/gpu}
calls=${PACGAN_STEPS_PER_CALL:-50}
workers=${PACGAN_WORKERS:-8}
PY=${PYTHON:-python3}
SITE=$(mktemp -d "${TMPDIR:-/tmp}/gan_bench_site_XXXXXX")
trap 'rm -rf "$SITE"' EXIT
. benchmarks/offline_wheels.sh
offline_wheels "$PY" "$SITE" 1 gin:gin_config tensorboardX:tensorboardx absl:absl_py google.protobuf:protobuf || exit 2
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$results"
sweep="$results/sweep.gin"
# The study's sweep file with its length and seed count replaced (kept beside the trials as their record).
{
  grep -v '^sweep.seeds' sweeps/pacgan_table1.gin
  echo "sweep.seeds = $seeds"
  echo "trial.train_steps = $steps"
  echo "trial.eval_every = $(( steps / 10 > 0 ? steps / 10 : 1 ))"
  echo "trial.ckpt_every = $(( steps / 4 > 0 ? steps / 4 : 1 ))"
  echo "trial.log_every = $(( steps / 20 > 0 ? steps / 20 : 1 ))"
  echo "trial.steps_per_call = $calls"
} > "$sweep.tmp" && mv "$sweep.tmp" "$sweep"
export GAN_BENCH_JAX_CACHE=${GAN_BENCH_JAX_CACHE:-${TMPDIR:-/tmp}/gan_bench_jax_cache}
start=$(date +%s)
"$PY" -m gan_bench.cli sweep "$sweep" --results "$results" --workers "$workers" --population "$seeds" \
    ${PACGAN_CONTINUE_TO:+--continue_to "$PACGAN_CONTINUE_TO"}
echo "wall time: $(( $(date +%s) - start )) s"
"$PY" -m gan_bench.cli report "$results" --out "$results/report"
