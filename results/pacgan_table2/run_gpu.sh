#!/usr/bin/env bash
# PacGAN Table 2 (stacked MNIST; DCGAN, PacDCGAN2, PacDCGAN3, PacDCGAN4) on one GPU: the protocol of
# sweeps/pacgan_table2.gin with every variant's seeds trained together as one population (one vmapped step,
# `gan-bench sweep --population`), the 4 variants as concurrent workers sharing the GPU.
#   PACGAN_STEPS    generator steps per trial (default 3000: what should fit in 8 minutes on one H200, estimated
#                   from a DCGAN step of 1.9 ms there and a population of 8 at 1.19x the solo throughput, not
#                   measured for this study; the paper: 100000)
#   PACGAN_SEEDS    seeds per variant = population size (default 10, the paper's runs)
#   PACGAN_RESULTS  results folder (default results/pacgan_table2/gpu)
#   PACGAN_STEPS_PER_CALL  generator steps per compiled call (default 10; trial.steps_per_call: the same steps,
#                   one dispatch per call; where an action falls inside a call the loop takes single steps)
#   PACGAN_WORKERS  populations at once (default 4: every variant)
#   PACGAN_CONTINUE_TO  train the trials of an earlier run (same PACGAN_STEPS and PACGAN_SEEDS, so the same
#                   sweep file and trial ids) on to this many steps, each from its last checkpoint
#                   (`gan-bench sweep --continue_to`): a study longer than one session's GPU time, in parts
#   PACGAN_DATA_DIR MNIST's folder (default shared/data under the repository, else the data loader's default)
#   PACGAN_EVAL_SAMPLES  generated images the metric classifies (default 26000, the paper's)
#   PYTHON          the interpreter (default python3)
# Works offline (results/pacgan_gpu.sh, which both studies' scripts share, says how).
set -euo pipefail
. "$(dirname "$0")/../pacgan_gpu.sh"
steps=${PACGAN_STEPS:-3000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
data_dir=${PACGAN_DATA_DIR:-$([ -d "$ROOT/shared/data/mnist" ] && echo "$ROOT/shared/data" || echo '')}
# The metric once, at the end: PACGAN_EVAL_SAMPLES samples classified per trial.
pacgan_gpu_study pacgan_table2 "$steps" "${PACGAN_STEPS_PER_CALL:-10}" "${PACGAN_WORKERS:-4}" "$steps" \
    "trial.eval_num_samples = ${PACGAN_EVAL_SAMPLES:-26000}" ${data_dir:+"trial.data_dir = '$data_dir'"}
