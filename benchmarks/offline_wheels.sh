# Sourced by the scripts that run on the GPU machine (benchmarks/gpu_check.sh, results/pacgan_gpu.sh):
# that machine has jax, flax, optax and torch but cannot download, so the pure-Python packages it lacks are
# installed from wheels carried with the tree (benchmarks/gpu_wheels.sh puts them in build/gpu_wheels).
#
#   offline_wheels PYTHON SITE STRICT MODULE:WHEEL_PREFIX...
#
# For each MODULE that PYTHON cannot import, installs WHEELS/WHEEL_PREFIX-*.whl (WHEELS: $GAN_BENCH_WHEELS or
# build/gpu_wheels) with `pip install --no-index --no-deps --target SITE`. A missing wheel is an error (return
# 2) when STRICT is 1, and a logged line otherwise. The caller puts SITE first on PYTHONPATH.
offline_wheels() {
    local py=$1 site=$2 strict=$3 pair module wheel
    shift 3
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    local wheels=${GAN_BENCH_WHEELS:-$root/build/gpu_wheels}
    for pair in "$@"; do
        module=${pair%%:*}
        "$py" -c "import $module" 2>/dev/null && continue
        wheel=$(ls "$wheels"/"${pair#*:}"-*.whl 2>/dev/null | head -1)
        if [ -n "$wheel" ] && "$py" -m pip install -q --no-index --no-deps --target "$site" "$wheel"; then
            echo "installed $(basename "$wheel") (for import $module)"
        elif [ "$strict" = 1 ]; then
            echo "$module does not import and $wheels has no wheel for it that installs" >&2
            return 2
        else
            echo "missing: $module (no wheel in $wheels, or it did not install)"
        fi
    done
}
