"""Synthetic results folders for the report tests: trial folders as the sweep and the trainer leave them.

Every value a test expects is computed by the test from the numbers written here (numpy / statistics), never
read back from the report code.
"""
import json
import os

# Bookkeeping bindings a real sweep records in trial.json; a report must never show them as configuration.
BOOKKEEPING = {"trial.ckpt_every": 1000, "trial.log_every": 500, "trial.eval_num_samples": 10000,
               "trial.keep_ckpts": 2}


def make_trial(root, tid, bindings, seed, state="done", evals=(), config=None, step=100,
               metrics=("fid", "precision"), error=None):
    """A trial folder. `bindings`: the sweep's chosen `trial.*` keys; `config`: extra values for config.gin only.

    evals: metrics.jsonl rows (a row's values may be the string "inf", as `outputs.jsonable` writes +inf).
    state: 'pending' or 'running' write no status.json.
    """
    folder = os.path.join(str(root), tid)
    os.makedirs(folder, exist_ok=True)
    bindings = {**bindings, "trial.seed": seed}
    with open(os.path.join(folder, "trial.json"), "w") as f:
        json.dump({"id": tid, "sweep": "sweeps/test.gin", "gin_files": ["base.gin"], "bindings": bindings,
                   "seed": seed}, f)
    lines = ["# Parameters for trial:", "# " + "=" * 40]
    for key, value in sorted({**{f"trial.{k}": v for k, v in (config or {}).items()}, **bindings}.items()):
        lines.append(f"{key} = {value!r}")
    lines += ["trial.metrics = \\", "    [" + ",\n     ".join(repr(m) for m in metrics) + "]"]
    with open(os.path.join(folder, "config.gin"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if evals:
        with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
            for i, row in enumerate(evals):
                f.write(json.dumps({"step": 10 * (i + 1), "d_loss": 1.0, "g_loss": 0.5, **row}) + "\n")
    if state not in ("pending", "running"):
        status = {"state": state, "step": step, **({"error": error} if error else {})}
        with open(os.path.join(folder, "status.json"), "w") as f:
            json.dump(status, f)
    return folder


# The layout of the mode-collapse study: ring8 and grid25, NS GAN / PacGAN2 / NS GAN + R1, 3 seeds.
# (dataset, model) → per-seed (modes covered, high-quality fraction, reverse KL); "inf" as the trainer writes it.
MODELS = {
    "NS GAN": {"trial.loss": "non_saturating", "trial.penalty": "none", "trial.pack": 1},
    "PacGAN2": {"trial.loss": "non_saturating", "trial.penalty": "none", "trial.pack": 2},
    "NS GAN + R1": {"trial.loss": "non_saturating", "trial.penalty": "r1", "trial.pack": 1},
}
MODES_STUDY = {
    ("ring8", "PacGAN2"): [(8, 0.93, 0.02), (8, 0.90, 0.03), (8, 0.91, 0.01)],
    ("ring8", "NS GAN"): [(6, 0.85, 0.40), (7, 0.88, 0.25), (6, 0.80, 0.45)],
    ("ring8", "NS GAN + R1"): [(7, 0.90, 0.20), (6, 0.87, 0.30), (7, 0.92, 0.15)],
    ("grid25", "PacGAN2"): [(23, 0.70, 0.10), (25, 0.75, 0.05), (22, 0.60, 0.12)],
    ("grid25", "NS GAN"): [(21, 0.72, 0.20), (24, 0.74, 0.10), (23, 0.66, 0.15)],
    # One seed put no sample near a mode: 0 modes, 0 % high quality, reverse KL undefined (inf).
    ("grid25", "NS GAN + R1"): [(20, 0.50, 0.30), (0, 0.0, "inf"), (19, 0.40, 0.35)],
}


def write_modes_study(root, train_steps=2000):
    """The MODES_STUDY trials under `root`; the sweep also varied eval_every (bookkeeping) per seed."""
    n = 0
    for (dataset, model), seeds in MODES_STUDY.items():
        for seed, (modes, hq, kl) in enumerate(seeds):
            bindings = {**MODELS[model], "trial.dataset": dataset, "trial.train_steps": train_steps,
                        "trial.eval_every": 500 * (seed + 1), **BOOKKEEPING}
            evals = [{"modes_covered": 1.0, "high_quality_fraction": 0.01, "reverse_kl": 2.0},
                     {"modes_covered": float(modes), "high_quality_fraction": hq, "reverse_kl": kl}]
            make_trial(root, f"m{n:03d}", bindings, seed, evals=evals, metrics=("modes_2d",),
                       config={"architecture": "mlp"})
            n += 1
    return root
