"""Train-step throughput of gan_bench (jitted `Engine.step`) vs the same networks in PyTorch, side by side.

Both frameworks run the same work per generator step: `n_disc` D updates on concat(real, fake) and one G
update (D again on concat(real, fake)), non-saturating loss, Adam, batch B of 32x32x3. `biggan` runs its
preset instead (`PRESETS`: gin_configs/presets/biggan_cifar10.gin, BigGAN's CIFAR-10 setting): class-conditional
on a labelled noise dataset (10 classes; G's labels drawn uniformly, D judges real images with their labels),
hinge loss, Adam betas (0, 0.999), EMA of G, and by default batch 50 and n_disc 4 (`NET_DEFAULTS`; --batch and
--n_disc, when given, apply to every net). gan_bench runs `Engine.step` (compiled once; compile time reported
apart), PyTorch runs `torch_nets.TorchGANStep`. The repetitions alternate (A B A B ...) so both see the same
machine load, and the medians are compared. "images/s" counts real images consumed: n_disc * B per generator
step. Ratio = gan_bench / torch images/s (> 1: gan_bench faster).

  python3 benchmarks/bench_train_step.py                       # default: ~10 min on 2 busy cores (DCGAN's
                                                               # XLA step alone ~1 min there, see BENCHMARKS.md)
  python3 benchmarks/bench_train_step.py --nets dcgan,sndcgan,resnet_cifar --n_disc 1,5 --reps 5 --ops
  python3 benchmarks/bench_train_step.py --nets biggan --reps 3                # batch 50, n_disc 4
  python3 benchmarks/bench_train_step.py --torch_compile --precision tf32   # + PyTorch after torch.compile

`--torch_compile` adds a column: the same PyTorch step with G and D wrapped in `torch.compile` (compile time
reported apart); without torch, or where compiling fails, the column is skipped with a note in the output and
the JSON. Without torch at all only gan_bench's own figures are taken. `--precision float32 | tf32` sets both
frameworks to the same matmul / conv precision (jax: `jax_default_matmul_precision`; torch: the TF32 switches
of cuBLAS and cuDNN); `default` leaves each framework's own default (on GPUs: jax TF32 for matmuls and convs,
torch TF32 for convs only).

On a GPU machine (jax with CUDA and torch with CUDA installed) the same commands run both sides on the GPU:
jax takes its default backend, PyTorch `--torch_device auto` (the first CUDA GPU when it sees one).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

# libgomp threads of PyTorch spin after each parallel region and would steal the cores from XLA's next
# step in an interleaved run; passive waiting keeps the two frameworks from disturbing each other.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax  # noqa: E402
import numpy as np  # noqa: E402

D_NORM = {"dcgan": "none", "sndcgan": "spectral", "resnet_cifar": "spectral"}  # the presets' choices
# Nets benchmarked under a preset's bindings (paths from the repository root); the dataset is replaced by
# labelled noise of the preset dataset's shape and classes, the batch and n_disc by the benchmark's.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = {"biggan": os.path.join("gin_configs", "presets", "biggan_cifar10.gin")}
PRESET_CLASSES = {"biggan": 10}  # CIFAR-10
NETS = tuple(D_NORM) + tuple(PRESETS)
# (batch, n_disc) of a net when the command line gives none: the presets' own for the preset nets.
NET_DEFAULTS = {"biggan": (50, (4,))}
DEFAULT_BATCH, DEFAULT_N_DISC = 64, (1,)


def machine_info() -> dict:
    """nproc, CPU model, date and time, versions, devices and the 1-minute load average at the start."""
    model = "unknown"
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    info = {"nproc": os.cpu_count(), "cpu": model, "date": datetime.datetime.now().isoformat(timespec="minutes"),
            "python": platform.python_version(), "jax": jax.__version__,
            "devices": [str(d) for d in jax.devices()], "load_1min": os.getloadavg()[0]}
    try:
        import torch  # pylint: disable=import-outside-toplevel
        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["torch_gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def import_torch():
    """torch, or None when it is not installed (the benchmarks then time gan_bench alone and say so)."""
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return torch


PRECISIONS = {"default": None, "float32": ("highest", False), "tf32": ("tensorfloat32", True)}
# The trials' `trial.precision`, the --precision name itself (None for "default": the trial's own default). The
# engine traces its step under that policy, which overrides the process-wide JAX setting, so a benchmark at tf32
# must say so to the trial too.
_trial_policy = None  # set by set_precision, read by precision_bindings


def set_precision(name: str) -> None:
    """Set both frameworks to the matmul / conv precision `name` (see the module docstring) for this process,
    and the trials that `trial_config` builds from now on to the same `trial.precision`."""
    global _trial_policy  # pylint: disable=global-statement
    if name not in PRECISIONS:
        raise ValueError(f"--precision: {name!r} is not one of {', '.join(PRECISIONS)}")
    _trial_policy = None if name == "default" else name
    if PRECISIONS[name] is None:
        return
    jax_precision, tf32 = PRECISIONS[name]
    jax.config.update("jax_default_matmul_precision", jax_precision)
    set_torch_tf32(tf32)


def set_torch_tf32(allow: bool) -> None:
    """PyTorch's two TF32 switches (cuBLAS matmuls, cuDNN convolutions), when torch is installed."""
    torch = import_torch()
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow


def register_noise_dataset(shape, num_classes: int = 0) -> str:
    """Register (once) a dataset of 1024 random uint8 images of `shape` (H, W, C), with `num_classes` > 0
    also random labels in [0, num_classes); returns its name.

    Speed does not depend on pixel values or labels, and this keeps the benchmarks free of downloads.
    """
    from gan_bench.data import DATASETS, ArrayDataset  # pylint: disable=import-outside-toplevel
    name = "bench_noise_" + "x".join(str(s) for s in shape) + (f"_c{num_classes}" if num_classes else "")
    if name not in DATASETS:
        def loader(split="train", data_dir=None, **options):
            del split, data_dir, options
            rng = np.random.default_rng(0)
            images = rng.integers(0, 256, (1024,) + tuple(shape), dtype=np.uint8)
            if not num_classes:
                return ArrayDataset(name, images)
            labels = rng.integers(0, num_classes, 1024, dtype=np.int64)
            return ArrayDataset(name, images, labels, num_classes)
        DATASETS.register(name)(loader)
    return name


def precision_bindings() -> list:
    """The `trial.precision` binding of the last `set_precision` (none before it, or for 'default')."""
    return [] if _trial_policy is None else [f"trial.precision = '{_trial_policy}'"]


def trial_config(arch: str, shape, batch: int, n_disc: int, extra=()):
    """A `TrialConfig` for `arch` on noise images of `shape`; `extra`: more gin bindings (after the
    `trial.precision` of `set_precision`, so they may override it). A net of `PRESETS` takes its preset's
    bindings (on labelled noise with the preset's classes), the others the bindings of this benchmark's
    non-saturating setting below."""
    from gan_bench.config import parse_config  # pylint: disable=import-outside-toplevel
    run = [f"trial.batch_size = {batch}", f"trial.n_disc = {n_disc}", *precision_bindings(), *extra]
    if arch in PRESETS:
        data = f"trial.dataset = '{register_noise_dataset(shape, PRESET_CLASSES[arch])}'"
        return parse_config((os.path.join(_ROOT, PRESETS[arch]),), [data, *run])
    bindings = [f"trial.dataset = '{register_noise_dataset(shape)}'", f"trial.architecture = '{arch}'",
                f"trial.d_norm = '{D_NORM.get(arch, 'none')}'", "trial.g_norm = 'batch'", "trial.z_dim = 128",
                "trial.loss = 'non_saturating'", "trial.optimizer = 'adam'", *run]
    return parse_config((), bindings)


def make_engine(cfg, members: int = 1, stacked: bool = False):
    """(engine, state, batch): an initialized `Engine` and the device batch of step 0 for every member."""
    from gan_bench.gan.state import hparams_of  # pylint: disable=import-outside-toplevel
    try:
        from gan_bench.train.engine import Engine  # pylint: disable=import-outside-toplevel
    except ImportError:  # the layout before gan_bench.train
        from gan_bench.trial import Engine  # pylint: disable=import-outside-toplevel
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
    engine = Engine(cfg, members, stacked)
    if stacked:
        hp = jax.tree_util.tree_map(lambda x: jnp.stack([x] * members), hparams_of(cfg))
        state = engine.init(jnp.arange(members, dtype=jnp.int32), hp)
    else:
        state = engine.init(cfg.seed, hparams_of(cfg))
    return engine, state, engine.load([cfg] * members, 0)


def run_steps(engine, state, batch, steps: int):
    """`steps` calls of the compiled step (the state is donated and threaded); returns (state, seconds)."""
    t0 = time.perf_counter()
    for _ in range(steps):
        state, logs = engine.step(state, batch)
    jax.block_until_ready((state, logs))
    return state, time.perf_counter() - t0


def interleaved(fns, reps: int):
    """Run the callables in turn, `reps` rounds (A B A B ...); each returns seconds. -> [[s, ...] per fn]."""
    times = [[] for _ in fns]
    for _ in range(reps):
        for i, fn in enumerate(fns):
            times[i].append(fn())
    return times


def write_json(path: str, obj) -> None:
    """gan_bench's atomic JSON write, into a folder made if missing."""
    from gan_bench.atomic import atomic_write_json  # pylint: disable=import-outside-toplevel
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_json(path, obj)


def all_im2col():
    """The convolution implementation that runs every convolution as im2col (K*K strided slices, one matmul):
    gan_bench's CPU-tuned forms with the population's bound; solo steps use im2col only up to 8x8 inputs."""
    from gan_bench.nets import conv_impl  # pylint: disable=import-outside-toplevel
    return conv_impl("cpu_tuned", population=True)


def im2col_engine(engine):
    """An object with `engine`'s train step (`.step`, for `run_steps`), compiled with `all_im2col()` nets."""
    import dataclasses  # pylint: disable=import-outside-toplevel
    import functools  # pylint: disable=import-outside-toplevel
    import types  # pylint: disable=import-outside-toplevel
    from gan_bench.gan.train_step import train_step  # pylint: disable=import-outside-toplevel
    model = dataclasses.replace(engine.model, generator=engine.model.generator.clone(conv=all_im2col()),
                                discriminator=engine.model.discriminator.clone(conv=all_im2col()))
    step = functools.partial(train_step, model)
    if engine.labelled:  # the batch is (images, labels), as `Engine.step` takes it
        step = (lambda state, batch, _step=step: _step(state, batch[0], batch[1]))
    return types.SimpleNamespace(step=jax.jit(step, donate_argnums=0))


def n_params(tree) -> int:
    return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(tree)))


def torch_step_of(torch_nets, g, d, cfg, num_classes: int):
    """The PyTorch step with the trial's settings: loss, learning rates, Adam betas, EMA decay, classes."""
    return torch_nets.TorchGANStep(g, d, cfg.z_dim, lr=cfg.g_lr, d_lr=cfg.d_lr, betas=(cfg.beta1, cfg.beta2),
                                   ema_decay=cfg.ema_decay, loss=cfg.loss, num_classes=num_classes)


def compiled_torch_step(torch_nets, g, d, cfg, real_t, backend: str = "inductor", labels_t=None,
                        num_classes: int = 0):
    """(TorchGANStep with G and D under `torch.compile`, compile seconds), or (None, note) when torch.compile
    is missing or fails on these nets (the note says why)."""
    import torch  # pylint: disable=import-outside-toplevel
    if not hasattr(torch, "compile"):
        return None, f"torch {torch.__version__} has no torch.compile"
    try:
        step = torch_step_of(torch_nets, torch.compile(g, backend=backend), torch.compile(d, backend=backend),
                             cfg, num_classes)
        t0 = time.perf_counter()
        step.step(real_t, labels_t)  # compiles G and D (forward and backward)
        step.step(real_t, labels_t)  # and any recompilation after the first call's guards
        torch_nets.synchronize(real_t.device)
        return step, time.perf_counter() - t0
    except Exception as e:  # pylint: disable=broad-except  # inductor needs a compiler, triton, ...
        return None, f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"


def bench_pair(arch: str, n_disc: int, batch: int, reps: int, steps: int, im2col: bool = True,
               torch_device: str = "cpu", torch_compile: bool = False, compile_backend: str = "inductor") -> dict:
    """Median step times of gan_bench, PyTorch (eager; with `torch_compile` also compiled) and (im2col)
    gan_bench with every conv compiled as im2col (`all_im2col`), interleaved; parameter counts.

    Without torch only gan_bench's columns are taken; `notes` says what was skipped and why."""
    torch = import_torch()
    notes = []
    cfg = trial_config(arch, (32, 32, 3), batch, n_disc)
    engine, state, real = make_engine(cfg)
    t0 = time.perf_counter()
    state, _ = run_steps(engine, state, real, 1)  # compile + first step
    compile_s = time.perf_counter() - t0
    box = {"state": state}

    def jax_run():
        box["state"], seconds = run_steps(engine, box["state"], real, steps)
        return seconds

    columns = {"jax": jax_run}
    if im2col:
        _, state2, _ = make_engine(cfg)
        engine2 = im2col_engine(engine)
        box["state2"], _ = run_steps(engine2, state2, real, 1)  # compile + first step

        def im2col_run():
            box["state2"], seconds = run_steps(engine2, box["state2"], real, steps)
            return seconds
        columns["im2col"] = im2col_run
    num_classes = engine.model.num_classes
    row = {"arch": arch, "d_norm": cfg.d_norm, "n_disc": n_disc, "batch": batch, "reps": reps, "steps": steps,
           "loss": cfg.loss, "num_classes": num_classes, "preset": PRESETS.get(arch),
           "conv_impl": engine.conv.chosen,
           "params_g": [n_params(box["state"].g.params)], "params_d": [n_params(box["state"].d.params)],
           "compile_s": compile_s}
    if torch is None:
        notes.append("torch is not installed: PyTorch columns skipped")
    else:
        import torch_nets  # pylint: disable=import-outside-toplevel
        device = torch_nets.torch_device(torch_device)
        build = lambda: (net.to(device) for net in torch_nets.build(arch, z_dim=cfg.z_dim, d_norm=cfg.d_norm,
                                                                     g_norm=cfg.g_norm, num_classes=num_classes))
        g, d = build()
        row["torch_device"] = str(device)
        row["params_g"].append(torch_nets.count_params(g))
        row["params_d"].append(torch_nets.count_params(d))
        images, labels = real if engine.labelled else (real, None)
        real_t = torch.from_numpy(np.array(images)).permute(0, 1, 4, 2, 3).contiguous().to(device)  # NHWC -> NCHW
        labels_t = None if labels is None else torch.from_numpy(np.array(labels)).long().to(device)

        def torch_timer(torch_step):
            def run():
                t = time.perf_counter()
                for _ in range(steps):
                    torch_step.step(real_t, labels_t)
                torch_nets.synchronize(device)
                return time.perf_counter() - t
            return run
        if torch_compile:  # built first: compiling copies nothing, but the eager step would move the weights on
            g_c, d_c = build()
            compiled, info = compiled_torch_step(torch_nets, g_c, d_c, cfg, real_t, compile_backend, labels_t,
                                                 num_classes)
            row["torch_compile_backend"] = compile_backend
            if compiled is None:
                notes.append(info)
            else:
                row["torch_compile_s"] = info
                columns["torch_compiled"] = torch_timer(compiled)
        torch_step = torch_step_of(torch_nets, g, d, cfg, num_classes)
        torch_step.step(real_t, labels_t)  # warm-up (oneDNN primitive caches, cuDNN autotuning)
        columns["torch"] = torch_timer(torch_step)
    names = list(columns)
    times = dict(zip(names, interleaved([columns[n] for n in names], reps)))
    med = {n: statistics.median(t) / steps for n, t in times.items()}
    images = n_disc * batch
    for n in names:
        row[f"{n}_step_s"], row[f"{n}_img_s"], row[f"{n}_times"] = med[n], images / med[n], times[n]
    if "torch" in med:  # ratios: gan_bench speed / PyTorch speed (> 1: gan_bench faster)
        row["ratio"] = med["torch"] / med["jax"]
        if "im2col" in med:
            row["im2col_ratio"] = med["torch"] / med["im2col"]
        if "torch_compiled" in med:
            row["ratio_vs_compiled"] = med["torch_compiled"] / med["jax"]
    row["notes"] = notes
    return row


# (name, kind, input H, C_in, kernel, C_out, stride, batch multiple): the largest convs of the three nets.
# D layers see 2B images (real and fake concatenated); kind "tconv" is a stride-2 transposed conv.
OPS = [("dcgan G g_dc1", "tconv", 2, 512, 5, 256, 2, 1), ("dcgan G g_dc2", "tconv", 4, 256, 5, 128, 2, 1),
       ("sndcgan G g_dc2", "tconv", 4, 512, 4, 256, 2, 1), ("dcgan D d_conv3", "conv", 8, 128, 5, 256, 2, 2),
       ("dcgan D d_conv4", "conv", 4, 256, 5, 512, 2, 2), ("sndcgan D d_conv6", "conv", 8, 256, 4, 512, 2, 2),
       ("sndcgan D d_conv7", "conv", 4, 512, 3, 512, 1, 2), ("resnet G B2 conv2", "conv", 16, 256, 3, 256, 1, 1),
       # the larger layers, where XLA's own convolution runs in the nets
       ("sndcgan G g_dc4", "tconv", 16, 128, 4, 64, 2, 1), ("sndcgan D d_conv2", "conv", 32, 64, 4, 128, 2, 2),
       ("sndcgan D d_conv3", "conv", 16, 128, 3, 128, 1, 2), ("dcgan D d_conv2", "conv", 16, 64, 5, 128, 2, 2),
       ("resnet D B1 conv2", "conv", 32, 128, 3, 128, 1, 2),
       # ResNet G's conv after unpool is a 3x3 stride-2 transposed conv in gan_bench (`conv_after_unpool`)
       ("resnet G B3 conv1", "tconv", 16, 256, 3, 256, 2, 1)]


def _jax_op_fns(kind, h, c, k, o, s, batch, form):
    """{direction: compiled fn}, args: forward, input gradient (dx) and weight gradient (dw) of one layer.

    form "lax": `lax.conv_general_dilated` / `lax.conv_transpose` and JAX's own gradients; otherwise a gan_bench
    convolution implementation (`ConvImpl.conv2d` / `.conv_transpose_same`, with its formulations and custom
    VJPs).
    """
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
    dims = ("NHWC", "HWIO", "NHWC")
    x = jax.random.normal(jax.random.PRNGKey(0), (batch, h, h, c))
    if kind == "tconv":  # TF kernel layout [k, k, C_out, C_in]; output s*h (SAME)
        w = 0.02 * jax.random.normal(jax.random.PRNGKey(1), (k, k, o, c))
        f = ((lambda x, w: jax.lax.conv_transpose(x, w, (s, s), "SAME", dimension_numbers=dims,
                                                  transpose_kernel=True)) if form == "lax" else
             (lambda x, w: form.conv_transpose_same(x, w, s, (h * s, h * s))))
    else:
        w = 0.02 * jax.random.normal(jax.random.PRNGKey(1), (k, k, c, o))
        f = ((lambda x, w: jax.lax.conv_general_dilated(x, w, (s, s), "SAME", dimension_numbers=dims))
             if form == "lax" else (lambda x, w: form.conv2d(x, w, s, "SAME")))
    g = jnp.ones_like(f(x, w))
    fns = {"fwd": (lambda x, w, g: f(x, w)), "dx": (lambda x, w, g: jax.vjp(lambda x: f(x, w), x)[1](g)[0]),
           "dw": (lambda x, w, g: jax.vjp(lambda w: f(x, w), w)[1](g)[0])}
    return {name: jax.jit(fn).lower(x, w, g).compile() for name, fn in fns.items()}, (x, w, g)


def _torch_op_fns(kind, h, c, k, o, s, batch, device):
    import torch  # pylint: disable=import-outside-toplevel
    import torch.nn.functional as F  # pylint: disable=import-outside-toplevel
    x = torch.randn(batch, c, h, h, device=device, requires_grad=True)
    if kind == "tconv":  # k=5: pad 2 + output_padding 1, k=4: pad 1 -> exactly 2h
        w = (0.02 * torch.randn(c, o, k, k, device=device)).requires_grad_()
        f = lambda: F.conv_transpose2d(x, w, stride=s, padding=(k - 1) // 2, output_padding=k % 2)
    else:
        w = (0.02 * torch.randn(o, c, k, k, device=device)).requires_grad_()
        f = lambda: F.conv2d(x, w, stride=s, padding=(k - 1) // 2)  # same output size as SAME
    out = f()
    g = torch.ones_like(out)
    return {"fwd": lambda: f().detach(), "dx": lambda: torch.autograd.grad(out, [x], g, retain_graph=True),
            "dw": lambda: torch.autograd.grad(out, [w], g, retain_graph=True)}


def run_ops(batch: int, reps: int, torch_device: str = "cpu") -> list:
    """Milliseconds (median of interleaved reps) of each op and direction: lax, gan_bench (the cpu_tuned
    implementation, as solo steps run it), im2col (every convolution as im2col), torch."""
    from gan_bench.nets import conv_impl  # pylint: disable=import-outside-toplevel
    import torch_nets  # pylint: disable=import-outside-toplevel
    device = torch_nets.torch_device(torch_device)
    rows = []
    columns = ("lax", "gan_bench", "im2col", "torch")
    print(f"{'op':18s} {'shape in -> k, C_out, stride':32s} {'dir':4s} " + " ".join(f"{c + ' ms':>12s}" for c in columns))
    for name, kind, h, c, k, o, s, mult in OPS:
        b = batch * mult
        lax_fns, args = _jax_op_fns(kind, h, c, k, o, s, b, "lax")
        ours, _ = _jax_op_fns(kind, h, c, k, o, s, b, conv_impl("cpu_tuned"))
        i2c, _ = _jax_op_fns(kind, h, c, k, o, s, b, all_im2col())
        tor = _torch_op_fns(kind, h, c, k, o, s, b, device)
        for direction in ("fwd", "dx", "dw"):
            def timed(fn, block):
                def run():
                    t = time.perf_counter()
                    block(fn())
                    return time.perf_counter() - t
                return run
            fns = [timed(lambda fns=fns: fns[direction](*args), jax.block_until_ready)
                   for fns in (lax_fns, ours, i2c)]
            fns.append(timed(tor[direction], lambda r: torch_nets.synchronize(device)))
            for fn in fns:
                fn()  # warm-up
            ms = [1e3 * statistics.median(t) for t in interleaved(fns, reps)]
            shape = f"{b}x{h}x{h}x{c} -> {k}x{k}, {o}, s{s}"
            rows.append({"op": name, "kind": kind, "shape": shape, "direction": direction,
                         **{f"{col}_ms": v for col, v in zip(columns, ms)}})
            print(f"{name:18s} {shape:32s} {direction:4s} " + " ".join(f"{v:12.1f}" for v in ms), flush=True)
    return rows


def net_plan(net: str, batch, n_disc):
    """(batch, [n_disc, ...]) of `net`: the command line's values where given (`batch` an int, `n_disc` a comma
    list), else the net's defaults (`NET_DEFAULTS`, the others 64 and 1). ValueError for values below 1."""
    default_batch, default_n_disc = NET_DEFAULTS.get(net, (DEFAULT_BATCH, DEFAULT_N_DISC))
    batch = default_batch if batch is None else batch
    try:
        n_discs = list(default_n_disc) if n_disc is None else [int(x) for x in n_disc.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--n_disc: expected a comma list of integers, got {n_disc!r}") from None
    if not n_discs or min(n_discs) < 1 or batch < 1:
        raise ValueError(f"--n_disc and --batch must be >= 1; got n_disc {n_disc!r}, batch {batch!r}")
    return batch, n_discs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", default="dcgan,sndcgan", help=f"comma list of {', '.join(NETS)}")
    p.add_argument("--n_disc", help="comma list, e.g. 1,5 (default: 1; biggan: its preset's 4)")
    p.add_argument("--batch", type=int, help="default: 64; biggan: its preset's 50")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions per framework (median)")
    p.add_argument("--steps", type=int, default=1, help="generator steps per repetition")
    p.add_argument("--no_im2col", action="store_true", help="skip the gan_bench-with-im2col-convs column")
    p.add_argument("--ops", action="store_true", help="also run the per-op conv micro-benchmark (run_ops)")
    p.add_argument("--ops_only", action="store_true", help="only the per-op micro-benchmark")
    p.add_argument("--torch_device", default="auto",
                   help="auto (CUDA when PyTorch sees a GPU, else cpu), cpu, cuda:0, ...")
    p.add_argument("--torch_compile", action="store_true",
                   help="also time the PyTorch step with G and D under torch.compile (skipped with a note if unsupported)")
    p.add_argument("--torch_compile_backend", default="inductor",
                   help="torch.compile backend (inductor; aot_eager traces the same way without code generation)")
    p.add_argument("--precision", default="default", choices=sorted(PRECISIONS),
                   help="matmul / conv precision of both frameworks (default: each framework's own)")
    p.add_argument("--json", help="write all figures to this file (atomically)")
    args = p.parse_args(argv)
    nets = [n for n in args.nets.split(",") if n]
    unknown = sorted(set(nets) - set(NETS))
    if unknown:
        raise ValueError(f"--nets: unknown {unknown}; choose from {sorted(NETS)}")
    plans = {net: net_plan(net, args.batch, args.n_disc) for net in nets}
    if args.reps < 1 or args.steps < 1:
        raise ValueError("--reps and --steps must be >= 1")
    set_precision(args.precision)
    torch = import_torch()
    if torch is not None:
        torch.set_num_threads(os.cpu_count())
    info = machine_info()
    info["precision"] = args.precision
    print(json.dumps(info))
    rows = []
    result = {"machine": info, "command": " ".join(sys.argv), "train_step": rows}
    header = (f"{'net':13s} {'batch':>5s} {'n_disc':>6s} {'loss':>14s} {'G params jax/torch':>21s} {'compile s':>9s} {'jax img/s':>9s} "
              f"{'torch img/s':>11s} {'jax/torch':>9s} {'compiled img/s':>14s} {'jax/compiled':>12s} "
              f"{'im2col img/s':>12s} {'im2col/torch':>12s}")
    print(header)
    nan = float("nan")
    for arch in nets if not args.ops_only else []:
        batch, n_discs = plans[arch]
        for n_disc in n_discs:
            r = bench_pair(arch, n_disc, batch, args.reps, args.steps, not args.no_im2col, args.torch_device,
                           args.torch_compile, args.torch_compile_backend)
            rows.append(r)
            params_g = "/".join(f"{x:,d}" for x in r["params_g"])
            print(f"{arch:13s} {batch:5d} {n_disc:6d} {r['loss']:>14s} {params_g:>21s} {r['compile_s']:9.1f} {r['jax_img_s']:9.1f} "
                  f"{r.get('torch_img_s', nan):11.1f} {r.get('ratio', nan):9.2f} "
                  f"{r.get('torch_compiled_img_s', nan):14.1f} {r.get('ratio_vs_compiled', nan):12.2f} "
                  f"{r.get('im2col_img_s', nan):12.1f} {r.get('im2col_ratio', nan):12.2f}", flush=True)
            for note in r["notes"]:
                print(f"  note: {note}", flush=True)
            if args.json:  # after every row: a run stopped by a time limit keeps what it measured
                write_json(args.json, result)
    if args.ops or args.ops_only:
        result["ops"] = run_ops(DEFAULT_BATCH if args.batch is None else args.batch, args.reps, args.torch_device)
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
