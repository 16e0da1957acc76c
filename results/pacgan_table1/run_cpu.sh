#!/usr/bin/env bash
# PacGAN Table 1 (ring and grid; GAN, PacGAN2, PacGAN3, PacGAN4) on a CPU, shortened: the protocol of
# sweeps/pacgan_table1.gin with fewer steps and seeds, one trial at a time (solo trials: on a 2-core CPU a
# vmapped population of these MLPs ran slower per member-step than solo trials, see README.md).
#   PACGAN_STEPS    generator steps per trial (default 6000; the paper: 400000)
#   PACGAN_SEEDS    seeds per variant (default 5; the paper: 10)
#   PACGAN_RESULTS  results folder (default results/pacgan_table1/cpu)
#   PACGAN_WORKERS  trials at once (default 1)
# Then: gan-bench report PACGAN_RESULTS --out PACGAN_RESULTS/report
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${PACGAN_STEPS:-6000}
seeds=${PACGAN_SEEDS:-5}
results=${PACGAN_RESULTS:-results/pacgan_table1/cpu}
workers=${PACGAN_WORKERS:-1}
mkdir -p "$results"
sweep="$results/sweep.gin"
# The study's sweep file with its length and seed count replaced (kept beside the trials as their record;
# trial.json names it, and the report groups a variant's seeds by it, so every pass uses this one path).
{
  grep -v '^sweep.seeds' sweeps/pacgan_table1.gin
  echo "trial.train_steps = $steps"
  echo "trial.eval_every = $(( steps / 4 > 0 ? steps / 4 : 1 ))"
  echo "trial.ckpt_every = $(( steps / 2 > 0 ? steps / 2 : 1 ))"
  echo "trial.log_every = $(( steps / 10 > 0 ? steps / 10 : 1 ))"
  echo "sweep.seeds = 1"
} > "$sweep.tmp" && mv "$sweep.tmp" "$sweep"
export GAN_BENCH_JAX_CACHE=${GAN_BENCH_JAX_CACHE:-${TMPDIR:-/tmp}/gan_bench_jax_cache}
start=$(date +%s)
# Seed by seed: every variant gets seed 0, then seed 1, ... (a sweep runs a grid point's seeds together, and a
# trial's id does not depend on sweep.seeds, so each pass adds one seed and skips the trials already done).
for n in $(seq 1 "$seeds"); do
  sed "s/^sweep.seeds = .*\$/sweep.seeds = $n/" "$sweep" > "$sweep.tmp" && mv "$sweep.tmp" "$sweep"
  gan-bench sweep "$sweep" --results "$results" --workers "$workers"
done
echo "wall time: $(( $(date +%s) - start )) s"
gan-bench report "$results" --out "$results/report"
