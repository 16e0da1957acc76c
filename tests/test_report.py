"""Study reports: every expected number is computed here from the values the test writes into trial folders."""
import dataclasses
import json
import math
import os
import statistics

import gin
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gan_bench.report import (best_configs, expected_best_of_k, failure_table, kurach_table, load_results,
                              model_name, pr_table, report_main)
from gan_bench.report.load import parse_gin_values

# (loss, penalty) → name, as in Lucic et al. 2018, Table 1.
PAPER_NAMES = [
    ("minimax", "none", "MM GAN"), ("non_saturating", "none", "NS GAN"), ("least_squares", "none", "LSGAN"),
    ("wasserstein", "weight_clipping", "WGAN"), ("wasserstein", "wgan_gp", "WGAN GP"),
    ("non_saturating", "dragan", "DRAGAN"), ("hinge", "none", "hinge+none"),
    ("non_saturating", "wgan_gp", "non_saturating+wgan_gp"),
]


def make_trial(root, tid, bindings, seed, state="done", evals=(), config=None, step=100):
    """A trial folder as the sweep and the trainer leave it. `config`: extra `trial.*` values for config.gin."""
    folder = os.path.join(str(root), tid)
    os.makedirs(folder, exist_ok=True)
    bindings = {**bindings, "trial.seed": seed}
    with open(os.path.join(folder, "trial.json"), "w") as f:
        json.dump({"id": tid, "sweep": "sweeps/test.gin", "gin_files": ["base.gin"], "bindings": bindings,
                   "seed": seed}, f)
    lines = ["# Parameters for trial:", "# " + "=" * 40]
    for key, value in sorted({**{f"trial.{k}": v for k, v in (config or {}).items()}, **bindings}.items()):
        lines.append(f"{key} = {value!r}")
    lines += ["trial.metrics = \\", "    ['fid',", "     'precision']"]
    with open(os.path.join(folder, "config.gin"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if evals:
        with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
            for i, row in enumerate(evals):
                f.write(json.dumps({"step": 10 * (i + 1), **row}) + "\n")
    if state not in ("pending", "running"):
        with open(os.path.join(folder, "status.json"), "w") as f:
            json.dump({"state": state, "step": step}, f)
    return folder


# Hand-made study: dataset → model bindings → configuration (g_lr) → per-seed final FIDs.
NS = {"trial.loss": "non_saturating", "trial.penalty": "none"}
GP = {"trial.loss": "wasserstein", "trial.penalty": "wgan_gp"}
STUDY = {
    ("mnist", "NS GAN", 1e-4): [30.0, 32.0, 34.5],
    ("mnist", "NS GAN", 2e-4): [20.0, 26.0, 29.0],
    ("mnist", "WGAN GP", 1e-4): [25.0, 25.5],
    ("mnist", "WGAN GP", 2e-4): [40.0, 41.0, 45.0],
    ("cifar10", "NS GAN", 1e-4): [60.0, 58.0],
    ("cifar10", "NS GAN", 2e-4): [55.0, 70.0],
}
PR = {"NS GAN": (0.8, 0.6), "WGAN GP": (0.7, 0.75)}  # precision, recall base values


def f1(p, r):
    return 2 * p * r / (p + r)


@pytest.fixture
def study(tmp_path):
    root = tmp_path / "results"
    n = 0
    for (dataset, model, lr), fids in STUDY.items():
        base = NS if model == "NS GAN" else GP
        for seed, fid in enumerate(fids):
            p, r = PR[model][0] - 0.01 * seed, PR[model][1] + 0.02 * seed
            evals = [{"fid": fid + 50.0, "is_mean": 1.0}, {"fid": fid, "is_mean": 2.0 + seed,
                                                           "precision": p, "recall": r, "f1": f1(p, r)}]
            make_trial(root, f"t{n:03d}", {**base, "trial.g_lr": lr}, seed, evals=evals,
                       config={"dataset": dataset, "d_norm": "spectral" if lr > 1.5e-4 else "none"})
            n += 1
    # Not scored: a failed trial with an excellent FID, a diverged one with FID inf, a pending one.
    make_trial(root, "failed1", {**NS, "trial.g_lr": 1e-4}, 7, state="failed", evals=[{"fid": 1.0}],
               config={"dataset": "mnist"})
    make_trial(root, "diverged1", {**NS, "trial.g_lr": 2e-4}, 8, state="diverged",
               evals=[{"fid": 90.0}, {"fid": "inf"}], config={"dataset": "mnist", "d_norm": "spectral"})
    make_trial(root, "pending1", {**GP, "trial.g_lr": 1e-4}, 9, state="pending", config={"dataset": "mnist"})
    return root


@pytest.mark.parametrize("loss,penalty,name", PAPER_NAMES)
def test_model_name_follows_lucic_table(loss, penalty, name):
    assert model_name(loss, penalty) == name


def test_model_column_from_config_gin_and_defaults(tmp_path):
    make_trial(tmp_path, "a", {}, 0, config={"loss": "least_squares"})  # loss only in config.gin
    make_trial(tmp_path, "b", {}, 0)  # TrialConfig defaults: non_saturating + none
    make_trial(tmp_path, "c", {"trial.loss": "wasserstein", "trial.penalty": "weight_clipping"}, 0)
    df = load_results([str(tmp_path)]).set_index("id")
    assert df.loc["a", "model"] == "LSGAN" and df.loc["b", "model"] == "NS GAN" and df.loc["c", "model"] == "WGAN"


def test_parse_gin_values_matches_gin():
    @gin.configurable("report_probe")
    @dataclasses.dataclass
    class Probe:  # pylint: disable=unused-variable
        names: tuple = ()
        rate: float = 0.0
        label: str = ""
        flag: bool = False

    gin.clear_config()
    bound = {"names": ["a" * 30, "b" * 30, "c" * 30], "rate": 3e-4, "label": "x y", "flag": True}
    gin.parse_config([f"report_probe.{k} = {v!r}" for k, v in bound.items()])
    text = gin.config_str()
    gin.clear_config()
    assert "\\" in text  # gin wrapped the long list over lines
    assert parse_gin_values(text) == {f"report_probe.{k}": v for k, v in bound.items()}


def test_load_results_final_best_state(study):
    df = load_results([str(study)]).set_index("id")
    assert len(df) == sum(map(len, STUDY.values())) + 3
    row = df.loc["t000"]  # first seed of mnist NS GAN 1e-4: evals fid 80 then 30, is 1 then 2
    assert row["final_fid"] == 30.0 and row["best_fid"] == 30.0 and row["best_is_mean"] == 2.0
    assert row["dataset"] == "mnist" and row["g_lr"] == 1e-4 and row["seed"] == 0 and row["state"] == "done"
    assert row["metrics"] == json.dumps(["fid", "precision"])
    assert df.loc["diverged1", "final_fid"] == math.inf and df.loc["diverged1", "best_fid"] == 90.0
    assert df.loc["diverged1", "state"] == "diverged" and df.loc["pending1", "state"] == "running"
    # Seeds of one configuration share config_id; different g_lr do not.
    assert df.loc["t000", "config_id"] == df.loc["t001", "config_id"] != df.loc["t003", "config_id"]


def expected_best(metric_values, dataset, model, lower=True):
    """(g_lr, mean, stdev) of the best configuration, from the STUDY dict with the statistics module."""
    means = {lr: statistics.mean(v) for (d, m, lr), v in metric_values.items() if d == dataset and m == model}
    lr = (min if lower else max)(means, key=means.get)
    vals = metric_values[(dataset, model, lr)]
    return lr, statistics.mean(vals), statistics.stdev(vals)


def test_best_config_mean_std(study):
    best = best_configs(load_results([str(study)]), "fid").set_index(["dataset", "model"])
    assert len(best) == 3
    for (dataset, model), row in best.iterrows():
        lr, mean, std = expected_best(STUDY, dataset, model)
        assert f"g_lr={lr}" in row["config"]
        assert row["seeds"] == len(STUDY[(dataset, model, lr)])
        # The fixture adds one unscored trial to each of these configurations (failed, diverged, pending).
        unscored = {("mnist", "NS GAN", 1e-4), ("mnist", "NS GAN", 2e-4), ("mnist", "WGAN GP", 1e-4)}
        assert row["trials"] == row["seeds"] + ((dataset, model, lr) in unscored)
        assert row["mean"] == pytest.approx(mean, rel=1e-12) and row["std"] == pytest.approx(std, rel=1e-12)
    # Higher-is-better metric: final is_mean = 2 + seed, so the configuration with most seeds wins the mean.
    best_is = best_configs(load_results([str(study)]), "is_mean").set_index(["dataset", "model"])
    is_values = {key: [2.0 + s for s in range(len(v))] for key, v in STUDY.items()}
    lr, mean, _ = expected_best(is_values, "mnist", "NS GAN", lower=False)
    assert best_is.loc[("mnist", "NS GAN"), "mean"] == pytest.approx(mean)


def test_best_over_evaluations(study):
    best = best_configs(load_results([str(study)]), "fid", which="best").set_index(["dataset", "model"])
    # Each trial's best FID equals its final FID (the earlier eval is +50), except the diverged trial, whose
    # best (90) now joins its configuration: mnist NS GAN 2e-4 becomes [20, 26, 29, 90].
    vals = STUDY[("mnist", "NS GAN", 2e-4)] + [90.0]
    per_lr = {1e-4: statistics.mean(STUDY[("mnist", "NS GAN", 1e-4)]), 2e-4: statistics.mean(vals)}
    assert best.loc[("mnist", "NS GAN"), "mean"] == pytest.approx(min(per_lr.values()))


@pytest.mark.parametrize("better", ["min", "max"])
def test_expected_best_of_k_matches_closed_form(better):
    values = np.random.default_rng(3).normal(30.0, 8.0, size=7)
    n, n_boot = values.size, 40000
    ordered = np.sort(values) if better == "min" else np.sort(values)[::-1]
    curve = expected_best_of_k(values, better, n_boot=n_boot, seed=1)
    for k in range(1, n + 1):
        # E[best of k distinct draws] = Σ_i v_(i) C(n-i, k-1) / C(n, k), v_(1) the best value.
        exact = sum(ordered[i - 1] * math.comb(n - i, k - 1) for i in range(1, n + 1)) / math.comb(n, k)
        tol = 4 * np.ptp(values) / 2 / math.sqrt(n_boot)  # 4 standard errors of a mean of bounded draws
        row = curve.iloc[k - 1]
        assert row["k"] == k and abs(row["mean"] - exact) < tol, (k, row["mean"], exact)
        assert row["lo"] - 1e-9 <= row["mean"] <= row["hi"] + 1e-9  # the mean of equal values may round
    assert curve["mean"].iloc[-1] == pytest.approx(ordered[0])  # all n trials: the best value, surely
    with pytest.raises(ValueError, match="finite"):
        expected_best_of_k([1.0, float("nan")])


def test_tables_hold_the_numbers(study, tmp_path):
    out = tmp_path / "report"
    written = report_main([str(study)], str(out), n_boot=200)
    markdown = (out / "lucic_best.md").read_text()
    csv = pd.read_csv(out / "lucic_best.csv").set_index(["dataset", "model"])
    latex = (out / "lucic_best.tex").read_text()
    for dataset, model in [("mnist", "NS GAN"), ("mnist", "WGAN GP"), ("cifar10", "NS GAN")]:
        _, mean, std = expected_best(STUDY, dataset, model)
        assert f"{mean:.4g} ± {std:.4g}" in markdown
        assert f"{mean:.4g} $\\pm$ {std:.4g}" in latex
        assert csv.loc[(dataset, model), "mean"] == pytest.approx(mean)
        assert csv.loc[(dataset, model), "std"] == pytest.approx(std)
    index = (out / "index.md").read_text()
    for name, path in written.items():
        assert os.path.isfile(path) and os.path.getsize(path) > 0
        assert name == "index.md" or f"[{name}]({name})" in index
    assert not [f for f in os.listdir(out) if f.startswith(".tmp")]


def test_failure_counts(study):
    table = failure_table(load_results([str(study)])).set_index("model")
    n_ns = sum(len(v) for (d, m, _), v in STUDY.items() if m == "NS GAN")
    assert table.loc["NS GAN", "done"] == n_ns
    assert table.loc["NS GAN", "failed"] == 1 and table.loc["NS GAN", "diverged"] == 1
    assert table.loc["WGAN GP", "running"] == 1 and table.loc["WGAN GP", "failed"] == 0
    assert table.loc["NS GAN", "total"] == n_ns + 2


def test_kurach_table_cells(study):
    df = load_results([str(study)])
    best = kurach_table(df, "fid", agg="best").set_index(["dataset", "loss", "penalty"])
    median = kurach_table(df, "fid", agg="median").set_index(["dataset", "loss", "penalty"])
    # d_norm was 'spectral' for g_lr 2e-4 and 'none' for 1e-4 (see the fixture).
    for (dataset, model, lr), fids in STUDY.items():
        loss, penalty = ("non_saturating", "none") if model == "NS GAN" else ("wasserstein", "wgan_gp")
        column = "d_norm=spectral" if lr > 1.5e-4 else "d_norm=none"
        assert best.loc[(dataset, loss, penalty), column] == min(fids)
        assert median.loc[(dataset, loss, penalty), column] == pytest.approx(statistics.median(fids))


def test_precision_recall_table(study):
    table = pr_table(load_results([str(study)])).set_index(["dataset", "model"])
    # Best configuration by mean F1: F1 depends on the seed only, so the config with the best mean of its seeds.
    for dataset, model in [("mnist", "NS GAN"), ("mnist", "WGAN GP")]:
        p0, r0 = PR[model]
        f1s = {lr: [f1(p0 - 0.01 * s, r0 + 0.02 * s) for s in range(len(v))]
               for (d, m, lr), v in STUDY.items() if d == dataset and m == model}
        lr = max(f1s, key=lambda x: statistics.mean(f1s[x]))
        precisions = [p0 - 0.01 * s for s in range(len(f1s[lr]))]
        assert table.loc[(dataset, model), "precision_mean"] == pytest.approx(statistics.mean(precisions))
        assert table.loc[(dataset, model), "f1_mean"] == pytest.approx(statistics.mean(f1s[lr]))
        assert table.loc[(dataset, model), "f1_std"] == pytest.approx(statistics.stdev(f1s[lr]))
        assert table.loc[(dataset, model), "seeds"] == len(f1s[lr])


def test_figures_are_valid_pngs(study, tmp_path):
    written = report_main([str(study)], str(tmp_path / "out"), n_boot=100)
    for name in ("scores.png", "budget.png", "precision_recall.png"):
        path = written[name]
        assert os.path.getsize(path) > 0
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100


def test_malformed_trial_files_are_reported_not_fatal(study, tmp_path):
    bad = {"badjson": ("trial.json", "{not json"), "badstatus": ("status.json", "[1, 2]"),
           "badmetrics": ("metrics.jsonl", '{"step": 1, "fid": 3.0}\n{"step": 2, "fi')}
    for tid, (name, text) in bad.items():
        folder = make_trial(study, tid, dict(NS), 0, evals=[{"fid": 2.0}], config={"dataset": "mnist"})
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    with pytest.warns(UserWarning) as record:
        df = load_results([str(study)]).set_index("id")
    messages = " ".join(str(w.message) for w in record)
    for tid, (name, _) in bad.items():
        assert os.path.join(str(study), tid, name) in messages
        assert df.loc[tid, "state"] == "failed" and name in df.loc[tid, "error"]
    with pytest.warns(UserWarning):
        written = report_main([str(study)], str(tmp_path / "out"), n_boot=50)
    table = pd.read_csv(written["failures.csv"]).set_index("model")
    assert table.loc["NS GAN", "failed"] == 1 + len(bad)


def test_bad_input_raises_clear_errors(tmp_path, study):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no trial folders"):
        report_main([str(tmp_path / "empty")], str(tmp_path / "out"))
    with pytest.raises(ValueError, match="results folder not found"):
        load_results([str(tmp_path / "missing")])
    with pytest.raises(ValueError, match="metric 'fdi'.*fid"):
        report_main([str(study)], str(tmp_path / "out"), metric="fdi")
    with pytest.raises(ValueError, match="which must be"):
        report_main([str(study)], str(tmp_path / "out"), which="last")
    assert not (tmp_path / "out").exists()
