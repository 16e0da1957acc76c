# Sourced by results/pacgan_table{1,2}/run_gpu.sh: one PacGAN study on one GPU, every variant's seeds trained
# together as one population (one vmapped step, `gan-bench sweep --population`), the variants as concurrent
# workers sharing the GPU. Each script's header documents its variables and defaults.
#
#   pacgan_gpu_study STUDY STEPS STEPS_PER_CALL WORKERS EVAL_EVERY [SWEEP_LINE...]
#
# Writes RESULTS/sweep.gin: sweeps/STUDY.gin with sweep.seeds = PACGAN_SEEDS (default 10), train_steps STEPS,
# eval_every EVAL_EVERY, the SWEEP_LINEs, and checkpoints, logs and steps per call derived from STEPS (kept
# beside the trials as their record: the same values give the same sweep file and trial ids, which
# PACGAN_CONTINUE_TO needs). Then runs the sweep (on to PACGAN_CONTINUE_TO steps when set) and its report.
# RESULTS: PACGAN_RESULTS, default results/STUDY/gpu. Works offline: gin-config and the other pure-Python
# wheels the GPU image lacks are installed from build/gpu_wheels (benchmarks/gpu_wheels.sh; or
# $GAN_BENCH_WHEELS) into a temporary folder on PYTHONPATH.
pacgan_gpu_study() {
    local study=$1 steps=$2 calls=$3 workers=$4 eval_every=$5
    shift 5
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    cd "$root"
    local seeds=${PACGAN_SEEDS:-10} results=${PACGAN_RESULTS:-results/$study/gpu} py=${PYTHON:-python3}
    PACGAN_SITE=$(mktemp -d "${TMPDIR:-/tmp}/gan_bench_site_XXXXXX")
    trap 'rm -rf "$PACGAN_SITE"' EXIT
    . benchmarks/offline_wheels.sh
    offline_wheels "$py" "$PACGAN_SITE" 1 gin:gin_config tensorboardX:tensorboardx absl:absl_py \
        google.protobuf:protobuf || return 2
    export PYTHONPATH="$PACGAN_SITE:$root${PYTHONPATH:+:$PYTHONPATH}"
    mkdir -p "$results"
    local sweep="$results/sweep.gin"
    {
        grep -v '^sweep.seeds' "sweeps/$study.gin"
        echo "sweep.seeds = $seeds"
        echo "trial.train_steps = $steps"
        echo "trial.eval_every = $eval_every"
        [ $# -eq 0 ] || printf '%s\n' "$@"
        echo "trial.ckpt_every = $(( steps / 4 > 0 ? steps / 4 : 1 ))"
        echo "trial.log_every = $(( steps / 20 > 0 ? steps / 20 : 1 ))"
        echo "trial.steps_per_call = $calls"
    } > "$sweep.tmp" && mv "$sweep.tmp" "$sweep"
    export GAN_BENCH_JAX_CACHE=${GAN_BENCH_JAX_CACHE:-${TMPDIR:-/tmp}/gan_bench_jax_cache}
    local start
    start=$(date +%s)
    "$py" -m gan_bench.cli sweep "$sweep" --results "$results" --workers "$workers" --population "$seeds" \
        ${PACGAN_CONTINUE_TO:+--continue_to "$PACGAN_CONTINUE_TO"}
    echo "wall time: $(( $(date +%s) - start )) s"
    "$py" -m gan_bench.cli report "$results" --out "$results/report"
}
