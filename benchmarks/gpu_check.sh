#!/usr/bin/env bash
# Every GPU figure of BENCHMARKS.md's "GPU" section in one run, each stage under its own time limit and all
# stages under one overall budget (default 450 s, under 8 minutes with start-up), JSON per stage under OUTDIR
# and a one-screen summary (OUTDIR/summary.txt, also printed).
#
#   bash benchmarks/gpu_check.sh OUTDIR           # on the GPU machine (one GPU)
#   bash benchmarks/gpu_check.sh OUTDIR --tiny    # the same code paths at tiny sizes, on any CPU (< 3 min)
#
# Stages, in order (a stage that fails or runs out of time is recorded and the next one runs):
#   train_step   DCGAN, SNDCGAN, ResNet-CIFAR, batch 64, n_disc 1, then BigGAN-CIFAR under its preset (batch
#                50, n_disc 4, class-conditional, hinge loss): gan_bench vs PyTorch eager and compiled, matched
#                TF32 precision on both sides; each net's row is kept as soon as it is measured, so BigGAN, last,
#                is the one a timeout drops
#   population   member-steps/s of a vmapped population P = 8 vs solo, the same three nets, batch 64,
#                n_disc 1; each net's row is kept as soon as it is measured (ResNet-CIFAR, last, is the one a
#                timeout drops)
#   population_kurach  the same for the Kurach SNDCGAN CIFAR-10 preset's own step (batch 64, n_disc 5): its
#                trials/hour on one GPU, population P = 8 vs one trial after another
#   steps_per_call  the PacGAN ring MLP (pack 4) as a population of 10, K = 1 vs 50 steps per compiled call:
#                member-steps/s and the host's batch-loading share (sizes results/pacgan_table*/run_gpu.sh)
#   precision    gan_bench's train step under trial.precision = float32, tf32, bf16: images/s and loss drift
#   fid_tf32     FID Inception extraction images/s vs the same network in PyTorch, both TF32 (needs torchvision)
#   fid_float32  the same, both full float32
#   cache        time to the first batch with a cold and a warm JAX compilation cache
#   numerics     the precision tests (trial.precision, FID's Inception, the MNIST classifier) and the
#                spectral-norm test first, then
#                pytest tests/test_nets.py tests/test_metrics_fid.py (precision pinned by tests/conftest.py)
#   fid_precision  FID of 10k vs 10k images at each extraction precision (float32, tensorfloat32, bfloat16):
#                the relative difference from float32 and each FID's seconds end to end
#   fid_cache    time to the first batch of FID's Inception features from process start, cold and warm
#                compilation cache, each in a fresh process
# fid_precision and fid_cache come last: they run on what the budget has left (GAN_BENCH_GPU_STAGES to rerun).
#
# Missing pure-Python wheels (gin-config, tensorboardX, ...) are installed from build/gpu_wheels (made by
# benchmarks/gpu_wheels.sh; or $GAN_BENCH_WHEELS) with `pip install --no-index --no-deps --target` into a
# temporary folder put first on PYTHONPATH; only those the machine cannot import. Nothing is downloaded.
# Environment: PYTHON (default python3), GAN_BENCH_GPU_BUDGET_S (overall seconds for the stages),
# GAN_BENCH_GPU_STAGES (comma-separated stage names to run, default all; e.g. numerics,fid_tf32 for a rerun).
# On an H200 compilation dominates: a DCGAN step compiles in ~30 s, the Inception net in ~47 s, and
# torch.compile takes longer still, so the caps below are sized for that and not for the timed loops.
set -u
if [ $# -lt 1 ] || [ "${1:0:1}" = "-" ]; then
    echo "usage: bash benchmarks/gpu_check.sh OUTDIR [--tiny]" >&2
    exit 2
fi
OUT=$1
TINY=0
if [ $# -ge 2 ]; then
    if [ "$2" = "--tiny" ]; then TINY=1; else echo "gpu_check.sh: unknown option $2 (expected --tiny)" >&2; exit 2; fi
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
START=$(date +%s)
BUDGET=${GAN_BENCH_GPU_BUDGET_S:-$([ $TINY = 1 ] && echo 170 || echo 450)}
: > "$OUT/stages.tsv"

# ---- wheels the image lacks ------------------------------------------------------------------------------
SITE=$(mktemp -d "${TMPDIR:-/tmp}/gan_bench_site_XXXXXX")
trap 'rm -rf "$SITE"' EXIT
. "$ROOT/benchmarks/offline_wheels.sh"
offline_wheels "$PY" "$SITE" 0 gin:gin_config tensorboardX:tensorboardx tabulate:tabulate tqdm:tqdm absl:absl_py \
    google.protobuf:protobuf >> "$OUT/wheels.log" 2>&1
grep -E "^(installed|missing)" "$OUT/wheels.log"
export PYTHONPATH="$SITE:$ROOT:$ROOT/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
export OMP_WAIT_POLICY=PASSIVE
if [ $TINY = 1 ]; then  # cheap CPU compiles; the comparisons are between runs under the same flags
    export XLA_FLAGS="${XLA_FLAGS:-} --xla_backend_optimization_level=0"
fi
cd "$ROOT" || exit 1

# run_stage NAME CAP_SECONDS COMMAND...: runs under min(CAP, what is left of the budget); log in NAME.log
run_stage() {
    local name=$1 cap=$2
    shift 2
    if [ -n "${GAN_BENCH_GPU_STAGES:-}" ] && [[ ",$GAN_BENCH_GPU_STAGES," != *",$name,"* ]]; then
        printf '%s\tskipped\t0\tnot in GAN_BENCH_GPU_STAGES\n' "$name" >> "$OUT/stages.tsv"
        return
    fi
    local left=$((BUDGET - ($(date +%s) - START)))
    local limit=$((cap < left ? cap : left))
    if [ "$limit" -lt 10 ]; then
        printf '%s\tskipped\t0\tbudget spent\n' "$name" >> "$OUT/stages.tsv"
        echo "== $name: skipped (overall budget spent)"
        return
    fi
    echo "== $name (limit ${limit} s): $*"
    local t0 rc
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    local secs=$(($(date +%s) - t0))
    local state=ok
    if [ $rc = 124 ] || [ $rc = 137 ]; then state=timeout; elif [ $rc != 0 ]; then state="failed rc=$rc"; fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$state" "$secs" "$*" >> "$OUT/stages.tsv"
    tail -4 "$OUT/$name.log" | sed 's/^/   /'
}

NETS=dcgan,sndcgan,resnet_cifar,biggan  # each net's own batch and n_disc (bench_train_step.NET_DEFAULTS)
if [ $TINY = 1 ]; then
    STEP_ARGS=(--nets dcgan --batch 2 --n_disc 1 --reps 1 --steps 1 --torch_compile_backend aot_eager)
    POP_CONV=xla,cpu_tuned
    POP_ARGS=(--nets infogan --population 2 --image_batch 2 --image_steps 1 --reps 1)  # smallest conv net
    KURACH_ARGS=(--nets infogan --population 2 --image_batch 2 --image_steps 1 --reps 1 --n_disc 2)
    KURACH_CAP=40
    FID_ARGS=(--n 4 --batch 2 --size 8 --torch_device auto)
    CACHE_ARGS=(--arch mlp --batch 8 --steps 2)
    FID_CACHE_ARGS=(--n 2 --batch 2 --size 8 --precision float32)
    FID_PRECISION_ARGS=(--n 4 --batch 2 --size 8)
    FID_PRECISION_CAP=120
    FID_CACHE_CAP=150
    POLICY_ARGS=(--nets dcgan --batch 2 --reps 1 --steps 1)
    CALL_ARGS=(--population 2 --bind "trial.pack = 2" --bind "mlp.g_width = 8" --bind "mlp.d_width = 8" --steps 4
               --steps_per_call 1,2 --reps 1)
    CALL_CAP=25
    PRECISION_TESTS=(tests/test_precision.py tests/test_nets.py tests/test_inception.py tests/test_metrics_mnist.py
                     -k "precision or spectral_norm or full_float32")
    NUMERICS_TESTS=(tests/test_nets.py -k "layer_norm or weight_norm")
    CAPS=(55 70 20 20 25 45 20 60)
else
    STEP_ARGS=(--nets $NETS --reps 3 --steps 10)  # batch 64, n_disc 1; biggan 50, 4
    POP_CONV=xla  # cpu_tuned's forms compiled for over a minute on an H200 and lose there (BENCHMARKS.md)
    POP_ARGS=(--nets dcgan,sndcgan,resnet_cifar --dcgan_population 8 --image_batch 64 --image_steps 10 --reps 3)
    KURACH_ARGS=(--nets sndcgan --dcgan_population 8 --image_batch 64 --image_steps 4 --reps 3 --n_disc 5)
    KURACH_CAP=70  # two compiles (~30 s each) and 24 timed steps of each side
    FID_ARGS=(--n 2000 --batch 200 --torch_device auto)
    CACHE_ARGS=(--gpu --arch dcgan --batch 64 --steps 3)
    FID_CACHE_ARGS=(--n 200 --batch 200 --precision float32)
    FID_PRECISION_ARGS=(--n 10000 --batch 200)  # three Inception programs to compile, 60,000 images to run
    FID_PRECISION_CAP=200
    FID_CACHE_CAP=100  # the cold process compiles the Inception (47 s on an H200), the warm one loads it
    POLICY_ARGS=(--nets dcgan --batch 64 --reps 3 --steps 10)
    CALL_ARGS=(--population 10 --bind "trial.pack = 4" --steps 1000 --steps_per_call 1,50 --reps 2)
    CALL_CAP=60
    PRECISION_TESTS=(tests/test_precision.py tests/test_nets.py tests/test_inception.py tests/test_metrics_mnist.py
                     -k "precision or spectral_norm or full_float32")
    NUMERICS_TESTS=(tests/test_metrics_fid.py)
    # train_step population fid_tf32 fid_float32 cache precision_tests numerics precision (seconds)
    CAPS=(210 100 80 60 20 50 25 40)  # train_step: 150 s for the three nets, 60 s more for BigGAN
fi

run_stage train_step "${CAPS[0]}" "$PY" benchmarks/bench_train_step.py "${STEP_ARGS[@]}" --no_im2col \
    --torch_compile --precision tf32 --json "$OUT/train_step.json"
run_stage population "${CAPS[1]}" "$PY" benchmarks/bench_population.py "${POP_ARGS[@]}" --conv_impl "$POP_CONV" \
    --precision tf32 --json "$OUT/population.json"
run_stage population_kurach "$KURACH_CAP" "$PY" benchmarks/bench_population.py "${KURACH_ARGS[@]}" \
    --conv_impl "${POP_CONV%%,*}" --precision tf32 --json "$OUT/population_kurach.json"  # xla, as on the GPU
run_stage steps_per_call "$CALL_CAP" "$PY" benchmarks/bench_steps_per_call.py "${CALL_ARGS[@]}" \
    --json "$OUT/steps_per_call.json"
run_stage precision "${CAPS[7]}" "$PY" benchmarks/bench_precision.py "${POLICY_ARGS[@]}" --json "$OUT/precision.json"
if "$PY" -c "import torch, torchvision" 2>/dev/null; then
    for precision in tf32 float32; do
        run_stage "fid_$precision" "${CAPS[2]}" "$PY" benchmarks/bench_fid.py "${FID_ARGS[@]}" --rss_n 0 \
            --frechet_reps 0 --precision "$precision" --json "$OUT/fid_$precision.json"
    done
else
    for precision in tf32 float32; do
        printf 'fid_%s\tskipped\t0\ttorch or torchvision does not import\n' "$precision" >> "$OUT/stages.tsv"
    done
    echo "== fid: skipped (torch or torchvision does not import)"
fi
run_stage cache "${CAPS[4]}" "$PY" benchmarks/bench_scaling.py --cache_only "${CACHE_ARGS[@]}" --json "$OUT/cache.json"
run_stage precision_tests "${CAPS[5]}" "$PY" -m pytest -q -p no:cacheprovider "${PRECISION_TESTS[@]}"
run_stage numerics "${CAPS[6]}" "$PY" -m pytest -q -p no:cacheprovider "${NUMERICS_TESTS[@]}"
# last: these run when the stages above leave them time in the overall budget
run_stage fid_precision "$FID_PRECISION_CAP" "$PY" benchmarks/bench_fid.py --fid_precision \
    "${FID_PRECISION_ARGS[@]}" --json "$OUT/fid_precision.json"
run_stage fid_cache "$FID_CACHE_CAP" "$PY" benchmarks/bench_fid.py --cache_only "${FID_CACHE_ARGS[@]}" \
    --json "$OUT/fid_cache.json"

"$PY" benchmarks/gpu_summary.py "$OUT" --seconds $(($(date +%s) - START)) --tiny $TINY | tee "$OUT/summary.txt"
