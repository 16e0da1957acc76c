"""FID feature extraction: gan_bench's Flax Inception vs the same network in PyTorch, side by side.

Both sides get the same random-weight FID Inception (``tests/torch_reference/fid_inception_torch.py``,
torchvision's ``Inception3`` with pytorch-fid's FID blocks; gan_bench reads the saved ``.pth`` through
its own weights path) and the same uint8 images, resized to 299×299 the pytorch-fid way. The images go
batch by batch, each batch first through ``gan_bench.metrics.inception.extract`` and then through the
PyTorch forward (A B A B ...), so both see the same machine load; images/s are from the median batch
time. A first warm-up batch per side is timed apart: for gan_bench it holds the XLA compilation.
Also timed: ``gan_bench.metrics.frechet_distance`` on 2048-d statistics (next to pytorch-fid's
``scipy.linalg.sqrtm`` formula), and the peak RSS of a process that extracts ``--rss_n`` images
(``/usr/bin/time -v``). ``--layers`` adds a per-stage comparison (stem convs, pools, Mixed blocks).
``--cache_only``: only the time to the first batch in a fresh process with a cold, then a warm, persistent
compilation cache (random weights written without torch: needs no torch). ``--fid_precision``: only FID of
``--n`` vs ``--n`` synthetic images at each extraction precision, its relative difference from float32's and
the seconds of each whole FID (random weights, no torch).

Runs where both torch and jax import (e.g. a venv with torch, torchvision, jax, flax); on a GPU machine both
sides run on the GPU (jax's default backend; ``--torch_device auto`` picks CUDA when PyTorch sees it):
  PYTHONPATH=. "$TORCH_VENV"/bin/python benchmarks/bench_fid.py                  # ~4 min on 2 cores
  PYTHONPATH=. "$TORCH_VENV"/bin/python benchmarks/bench_fid.py --n 10000 --batch 200 --rss_n 10000
  python3 benchmarks/bench_fid.py --n 2000 --batch 200 --rss_n 0 --precision tf32   # matched TF32 on a GPU

``--precision``: ``float32`` runs both sides at full float32 (gan_bench ``extract(precision="float32")``,
torch with cuBLAS / cuDNN TF32 off); ``tf32`` both with TF32 (``"tensorfloat32"``, torch's TF32 switches on);
``default`` keeps gan_bench's float32 and torch's own default (on GPUs: TF32 convolutions), i.e. unmatched.
"""
import time

_T_START = time.perf_counter()  # a cache child's time to its first batch counts from here: imports included

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle libgomp threads must not spin between batches
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.join(_ROOT, "tests", "torch_reference"))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_bench.atomic import atomic_write_json  # noqa: E402

from bench_train_step import machine_info, set_torch_tf32  # noqa: E402  (shared with the other benchmarks)

warnings.filterwarnings("ignore", message=".*not the published FID Inception weights")


def reference_network(folder: str):
    """(torch net, path of its saved state dict): the random-weight FID Inception both sides run."""
    import torch  # pylint: disable=import-outside-toplevel
    import fid_inception_torch  # pylint: disable=import-outside-toplevel
    net = fid_inception_torch.build_fid_inception(seed=0)
    path = os.path.join(folder, "random_fid_inception.pth")
    torch.save(net.state_dict(), path)
    os.environ["GAN_BENCH_CACHE"] = os.path.join(folder, "cache")
    return net, path


def torch_features(net, images: np.ndarray):
    """pool3 and logits of the PyTorch network, on the device its weights are on, back as numpy arrays."""
    import torch  # pylint: disable=import-outside-toplevel
    import fid_inception_torch  # pylint: disable=import-outside-toplevel
    device = next(net.parameters()).device
    x01 = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 255.0
    pool3, logits = fid_inception_torch.pytorch_fid_features(net, x01)
    return pool3.cpu().numpy(), logits.cpu().numpy()  # .cpu() waits for the device


def timed(fn, cpu: list | None = None):
    """(fn(), wall seconds); appends the CPU seconds of all threads to ``cpu`` when given."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return out, time.perf_counter() - start


# --precision -> (gan_bench extract precision, torch TF32 switches or None for torch's default)
PRECISIONS = {"default": ("float32", None), "float32": ("float32", False), "tf32": ("tensorfloat32", True)}


def set_torch_precision(precision: str) -> str:
    """Set torch's TF32 switches for ``--precision``; return the matching gan_bench extract precision."""
    jax_precision, tf32 = PRECISIONS[precision]
    if tf32 is not None:
        set_torch_tf32(tf32)
    return jax_precision


def bench_extract(n: int, batch: int, size: int, passes: int, folder: str, torch_device: str = "cpu",
                  precision: str = "default") -> dict:
    """Interleaved per-batch timings of both sides on ``n`` random uint8 images [size, size, 3]."""
    import torch  # pylint: disable=import-outside-toplevel
    from gan_bench.metrics import inception  # pylint: disable=import-outside-toplevel
    from torch_nets import torch_device as pick_device  # pylint: disable=import-outside-toplevel
    torch.set_num_threads(os.cpu_count())
    jax_precision = set_torch_precision(precision)
    tf32 = PRECISIONS[precision][1]
    net, path = reference_network(folder)
    net = net.to(pick_device(torch_device))
    images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    first = images[:batch]
    inception.load_variables(path)  # .pth -> folded params once, outside the timed calls
    _, jax_first = timed(lambda: inception.extract(first, batch_size=batch, weights_path=path,
                                                              precision=jax_precision))
    _, torch_first = timed(lambda: torch_features(net, first))
    times = {"gan_bench": [], "torch": []}
    worst = {"pool3": 0.0, "logits": 0.0}
    for _ in range(passes):
        for start in range(0, n, batch):
            chunk = images[start:start + batch]
            if chunk.shape[0] < batch:
                break  # a short batch would be a different shape (a recompile), not a steady-state figure
            ours, seconds = timed(lambda: inception.extract(chunk, batch_size=batch, weights_path=path,
                                                                  precision=jax_precision))
            times["gan_bench"].append(seconds)
            theirs, seconds = timed(lambda: torch_features(net, chunk))
            times["torch"].append(seconds)
            for name, ref in zip(("pool3", "logits"), theirs):
                worst[name] = max(worst[name], float(np.abs(ours[name] - ref).max() / np.abs(ref).max()))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"n": n, "batch": batch, "image_size": size, "precision": precision, "gan_bench_precision": jax_precision,
              "torch_allow_tf32": tf32 if tf32 is not None else "torch default", "batches_timed": len(times["torch"]),
              "seconds_per_batch": times, "images_per_s": {k: batch / v for k, v in med.items()},
              "ratio_gan_bench_over_torch": med["torch"] / med["gan_bench"],
              "first_batch_s": {"gan_bench": jax_first, "torch": torch_first},
              "compile_s_estimate": jax_first - med["gan_bench"], "max_rel_error": worst}
    return result


def bench_frechet(reps: int, dim: int = 2048) -> dict:
    """frechet_distance on full-rank 2048-d statistics vs pytorch-fid's sqrtm formula (same inputs)."""
    from scipy import linalg  # pylint: disable=import-outside-toplevel
    from gan_bench.metrics import frechet_distance  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(1)
    stats = []
    for shift in (0.0, 0.3):
        feats = rng.normal(size=(2 * dim, dim)) @ (np.eye(dim) + 0.05 * rng.normal(size=(dim, dim))) + shift
        stats += [feats.mean(0), np.cov(feats, rowvar=False)]

    def sqrtm_formula():  # pytorch-fid calculate_frechet_distance, without its eps retry
        covmean = linalg.sqrtm(stats[1] @ stats[3]).real
        diff = stats[0] - stats[2]
        return diff @ diff + np.trace(stats[1]) + np.trace(stats[3]) - 2 * np.trace(covmean)

    times, cpu = {"frechet_distance": [], "scipy_sqrtm": []}, []
    for rep in range(reps):
        ours, seconds = timed(lambda: frechet_distance(*stats), cpu)
        times["frechet_distance"].append(seconds)
        if rep == 0:  # tens of seconds: once is enough
            theirs, seconds = timed(sqrtm_formula)
            times["scipy_sqrtm"].append(seconds)
    return {"dim": dim, "median_s": {k: statistics.median(v) for k, v in times.items()},
            "frechet_distance_cpu_s": statistics.median(cpu),
            "value": ours, "sqrtm_value": float(theirs), "rel_diff": abs(ours - theirs) / abs(theirs)}


def rss_child(side: str, n: int, batch: int, size: int) -> None:
    """Body of the ``/usr/bin/time -v`` child: extract ``n`` images with one side only."""
    images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        net, path = reference_network(folder)
        if side == "gan_bench":
            from gan_bench.metrics import inception  # pylint: disable=import-outside-toplevel
            out = inception.extract(images, batch_size=batch, weights_path=path)["pool3"]
        else:
            out = np.concatenate([torch_features(net, images[i:i + batch])[0] for i in range(0, n, batch)])
    assert out.shape == (n, 2048) and np.isfinite(out).all()


def peak_rss(side: str, n: int, batch: int, size: int) -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, os.path.abspath(__file__), "--rss_child", side,
           "--rss_n", str(n), "--batch", str(batch), "--size", str(size)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"RSS run of {side} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"n": n, "batch": batch, "peak_rss_gb": int(found.group(1)) / 1e6, "wall": wall.group(1)}


def write_random_weights(path: str) -> None:
    """A random-weight FID Inception as a torchvision-named .pth, written without torch: what the benchmarks
    that need gan_bench's weights path but no PyTorch side (the published weights need a download) run."""
    import torch_format  # pylint: disable=import-outside-toplevel
    from random_fid_weights import random_fid_state_dict  # pylint: disable=import-outside-toplevel
    torch_format.write_state_dict(path, random_fid_state_dict(np.random.default_rng(0)))


def cache_child(folder: str, n: int, size: int, precision: str, out: str) -> None:
    """Body of a fresh interpreter: one batch of ``n`` images through ``extract`` with the persistent
    compilation cache in ``folder``; writes the seconds from the interpreter's start and from the call."""
    from gan_bench.jax_cache import enable_compilation_cache  # pylint: disable=import-outside-toplevel
    from gan_bench.metrics import inception  # pylint: disable=import-outside-toplevel
    enable_compilation_cache(os.path.join(folder, "jax_cache"))
    images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    pool3 = inception.extract(images, batch_size=n, weights_path=os.path.join(folder, "weights.pth"),
                              precision=precision)["pool3"]
    done = time.perf_counter()
    assert pool3.shape == (n, 2048) and np.isfinite(pool3).all()
    atomic_write_json(out, {"extract_s": done - t0, "since_start_s": done - _T_START})


def bench_cache(n: int, size: int, precision: str) -> list:
    """Time to the first batch of features in two fresh processes sharing one new compilation cache: the first
    compiles the Inception (cold), the second loads it (warm). Random weights written without torch (the
    published ones need a download); both processes read them through gan_bench's weights path, and the warm
    one finds their converted copy in the same cache root, as a user's second run would."""
    jax_precision = PRECISIONS[precision][0]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        write_random_weights(os.path.join(folder, "weights.pth"))
        env = dict(os.environ, GAN_BENCH_CACHE=os.path.join(folder, "cache"))
        for label in ("cold", "warm"):
            out = os.path.join(folder, f"{label}.json")
            cmd = [sys.executable, os.path.abspath(__file__), "--cache_child", folder, "--batch", str(n),
                   "--n", str(n), "--size", str(size), "--precision", precision]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd + ["--json", out], env=env, capture_output=True, text=True, check=False)
            if proc.returncode:
                raise RuntimeError(f"{label} cache run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            rows.append({"cache": label, "images": n, "precision": jax_precision, **json.load(open(out)),
                         "process_s": time.perf_counter() - t0})
            print(f"{label:>5s} cache: first batch of {n} after {rows[-1]['since_start_s']:.1f} s from process start "
                  f"(extract call {rows[-1]['extract_s']:.1f} s, process {rows[-1]['process_s']:.1f} s)", flush=True)
    return rows


def smooth_images(n: int, size: int, seed: int, contrast: float = 1.0, shift: float = 0.0) -> np.ndarray:
    """[n, size, size, 3] uint8 images with structure at several scales (random 4x4, 8x8 and 16x16 fields
    upsampled and summed), so that Inception features vary the way they do on pictures rather than on
    white noise; `contrast` and `shift` move one set's distribution away from another's."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, size, size, 3), np.float32)
    for cells in (4, 8, 16):
        field = rng.normal(size=(n, cells, cells, 3)).astype(np.float32)
        reps = -(-size // cells)
        x += np.repeat(np.repeat(field, reps, axis=1), reps, axis=2)[:, :size, :size]
    x = 128 + contrast * 30 * x + shift
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def bench_fid_precision(n: int, batch: int, size: int) -> list:
    """FID of two n-image sets at each extraction precision, its relative difference from float32's, and the
    seconds of each whole FID (both sets' features, their statistics and the Frechet distance; the program
    compiled beforehand, timed apart). Random Inception weights, written without torch (the published ones
    need a download), and synthetic images: the relative differences are what this measures, not FID values
    comparable to published ones."""
    from gan_bench.metrics import frechet_distance, inception  # pylint: disable=import-outside-toplevel
    real, fake = smooth_images(n, size, seed=1), smooth_images(n, size, seed=2, contrast=0.85, shift=12.0)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "weights.pth")
        write_random_weights(path)
        os.environ["GAN_BENCH_CACHE"] = os.path.join(folder, "cache")
        for precision in inception.PRECISIONS:
            _, compile_s = timed(lambda: inception.extract(real[:batch], batch_size=batch, weights_path=path,
                                                           precision=precision))

            def fid(precision=precision):
                stats = []
                for images in (real, fake):
                    pool3 = inception.extract(images, batch_size=batch, weights_path=path,
                                              precision=precision)["pool3"].astype(np.float64)
                    stats += [pool3.mean(0), np.cov(pool3, rowvar=False)]
                return float(frechet_distance(*stats))
            value, seconds = timed(fid)
            rows.append({"precision": precision, "fid": value, "fid_seconds": seconds, "first_batch_s": compile_s,
                         "n": n, "batch": batch, "image_size": size})
            base = rows[0]["fid"]
            rows[-1]["rel_diff_vs_float32"] = abs(value - base) / abs(base)
            print(f"{precision:>13s}: FID {value:.6f} (rel. diff from float32 {rows[-1]['rel_diff_vs_float32']:.1e}), "
                  f"{n} vs {n} images end to end {seconds:.1f} s, first batch (compile) {compile_s:.1f} s",
                  flush=True)
    return rows


def bench_layers(batch: int, reps: int, folder: str, precision: str = "default") -> list:
    """Per-stage seconds, gan_bench (each stage jitted alone) vs torch, on [batch, 299, 299, 3] noise, both sides
    at ``--precision`` (each stage is traced under the same matmul precision ``extract`` would use)."""
    import torch  # pylint: disable=import-outside-toplevel
    from gan_bench.metrics import inception, inception_net as m  # pylint: disable=import-outside-toplevel
    torch.set_num_threads(os.cpu_count())
    jax_precision = set_torch_precision(precision)
    net, path = reference_network(folder)
    params = inception.load_variables(path)["params"]
    stages = [("Conv2d_1a_3x3", m.BasicConv2d(32, (3, 3), (2, 2))), ("Conv2d_2a_3x3", m.BasicConv2d(32, (3, 3))),
              ("Conv2d_2b_3x3", m.BasicConv2d(64, (3, 3), padding=(1, 1))), ("maxpool1", None),
              ("Conv2d_3b_1x1", m.BasicConv2d(80)), ("Conv2d_4a_3x3", m.BasicConv2d(192, (3, 3))),
              ("maxpool2", None), ("Mixed_5b", m.InceptionA(32)), ("Mixed_5c", m.InceptionA(64)),
              ("Mixed_5d", m.InceptionA(64)), ("Mixed_6a", m.InceptionB()), ("Mixed_6b", m.InceptionC(128)),
              ("Mixed_6c", m.InceptionC(160)), ("Mixed_6d", m.InceptionC(160)), ("Mixed_6e", m.InceptionC(192)),
              ("Mixed_7a", m.InceptionD()), ("Mixed_7b", m.InceptionE()), ("Mixed_7c", m.InceptionE(True))]
    x = np.random.default_rng(2).uniform(-1, 1, (batch, 299, 299, 3)).astype(np.float32)
    rows = []
    for name, module in stages:
        if module is None:
            fn = jax.jit(m.max_pool_valid)
            run = lambda a, fn=fn: jax.block_until_ready(fn(a))  # noqa: E731
        else:
            fn = jax.jit(module.apply)
            run = lambda a, fn=fn, v={"params": params[name]}: jax.block_until_ready(fn(v, a))  # noqa: E731
        tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
        with jax.default_matmul_precision(jax_precision):  # read while tracing: the first call compiles
            y = run(x)
        with torch.no_grad():
            layer = getattr(net, name)
            layer(tx)
            ours, theirs = [], []
            for _ in range(reps):  # interleaved
                ours.append(timed(lambda: run(x))[1])  # noqa: B023
                theirs.append(timed(lambda: layer(tx))[1])  # noqa: B023
        rows.append({"stage": name, "input": list(x.shape[1:]), "gan_bench_ms": 1e3 * statistics.median(ours),
                     "torch_ms": 1e3 * statistics.median(theirs)})
        print(f"  {name:14s} {str(x.shape[1:]):16s} gan_bench {rows[-1]['gan_bench_ms']:7.1f} ms  "
              f"torch {rows[-1]['torch_ms']:7.1f} ms", flush=True)
        x = np.array(y)  # writable, for torch.from_numpy
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200, help="images per pass, both sides (full run: 10000)")
    p.add_argument("--batch", type=int, default=50, help="images per batch (gan_bench's default is 200)")
    p.add_argument("--size", type=int, default=32, help="input images are size×size×3 uint8, resized to 299")
    p.add_argument("--passes", type=int, default=1, help="passes over the images (more timed batches)")
    p.add_argument("--frechet_reps", type=int, default=3, help="0: skip the Frechet distance timing")
    p.add_argument("--frechet_only", action="store_true", help="only time frechet_distance (no torch needed)")
    p.add_argument("--rss_n", type=int, default=100, help="images extracted in each peak-RSS run; 0 skips")
    p.add_argument("--layers", type=int, default=0, metavar="B", help="per-stage comparison at batch B (0: off)")
    p.add_argument("--torch_device", default="auto",
                   help="PyTorch side: auto (CUDA when PyTorch sees a GPU, else cpu), cpu, cuda:0, ...")
    p.add_argument("--precision", default="default", choices=sorted(PRECISIONS),
                   help="float32 or tf32 on both sides; default: gan_bench float32, torch's own default")
    p.add_argument("--json", help="write all figures to this file (atomically)")
    p.add_argument("--fid_precision", action="store_true",
                   help="only FID of --n vs --n images at each extraction precision (float32, tensorfloat32, "
                        "bfloat16): the relative difference from float32 and each FID's seconds end to end "
                        "(no torch needed)")
    p.add_argument("--cache_only", action="store_true",
                   help="only the time to the first batch of --batch images with a cold and a warm compilation "
                        "cache, each in a fresh process (no torch needed)")
    p.add_argument("--rss_child", choices=("gan_bench", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--cache_child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.n < args.batch or args.batch < 1 or args.size < 1:
        raise ValueError(f"need 1 <= --batch <= --n and --size >= 1, got {args.batch}, {args.n}, {args.size}")
    if args.cache_child:
        cache_child(args.cache_child, args.batch, args.size, PRECISIONS[args.precision][0], args.json)
        return 0
    if args.rss_child:
        rss_child(args.rss_child, args.rss_n, args.batch, args.size)
        return 0
    report = {"machine": machine_info(), "command": " ".join([os.path.basename(sys.executable)] + sys.argv)}
    print(json.dumps(report["machine"]), flush=True)
    if args.fid_precision:
        report["fid_precision"] = bench_fid_precision(args.n, args.batch, args.size)
        if args.json:
            atomic_write_json(args.json, report)
        return 0
    if args.cache_only:
        report["cache"] = bench_cache(args.batch, args.size, args.precision)
        if args.json:
            atomic_write_json(args.json, report)
        return 0
    if args.frechet_only:
        report["frechet"] = fr = bench_frechet(args.frechet_reps)
        print(f"frechet_distance 2048-d: {fr['median_s']['frechet_distance']:.3f} s wall (scipy sqrtm formula "
              f"{fr['median_s']['scipy_sqrtm']:.3f} s), rel. diff {fr['rel_diff']:.1e}", flush=True)
        if args.json:
            atomic_write_json(args.json, report)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        if args.layers:
            print(f"per-stage, batch {args.layers}:", flush=True)
            report["layers"] = bench_layers(args.layers, 3, folder, args.precision)
        report["extract"] = ex = bench_extract(args.n, args.batch, args.size, args.passes, folder,
                                               args.torch_device, args.precision)
    if args.json:  # the extraction figures first: a run stopped by a time limit keeps them
        atomic_write_json(args.json, report)
    print(f"extract {args.n} images {args.size}x{args.size} -> 299, batch {args.batch}: gan_bench "
          f"{ex['images_per_s']['gan_bench']:.2f} img/s, torch {ex['images_per_s']['torch']:.2f} img/s, ratio "
          f"{ex['ratio_gan_bench_over_torch']:.2f} (>1: gan_bench faster); first batch {ex['first_batch_s']}, "
          f"compile ~{ex['compile_s_estimate']:.1f} s; max rel. error {ex['max_rel_error']}", flush=True)
    if args.frechet_reps > 0:  # 0: extraction only
        report["frechet"] = fr = bench_frechet(args.frechet_reps)
        print(f"frechet_distance 2048-d: {fr['median_s']['frechet_distance']:.3f} s wall, "
              f"{fr['frechet_distance_cpu_s']:.3f} s CPU (scipy sqrtm formula "
              f"{fr['median_s']['scipy_sqrtm']:.3f} s), rel. diff {fr['rel_diff']:.1e}", flush=True)
    if args.rss_n:
        report["peak_rss"] = {side: peak_rss(side, args.rss_n, args.batch, args.size) for side in ("gan_bench", "torch")}
        print("peak RSS:", json.dumps(report["peak_rss"]), flush=True)
    report["machine"]["load_1min_end"] = os.getloadavg()[0]
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
