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
# Works offline (results/pacgan_gpu.sh, which both studies' scripts share, says how).
set -euo pipefail
. "$(dirname "$0")/../pacgan_gpu.sh"
steps=${PACGAN_STEPS:-16000}
pacgan_gpu_study pacgan_table1 "$steps" "${PACGAN_STEPS_PER_CALL:-50}" "${PACGAN_WORKERS:-8}" \
    "$(( steps / 10 > 0 ? steps / 10 : 1 ))"
