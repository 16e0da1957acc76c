"""Sweep files: grid sizes, random search (determinism, bounds, distribution), conditions, ids, errors."""
import math
import os
import textwrap

import numpy as np
import pytest
import scipy.stats

from gan_bench.data import DATASETS
from gan_bench.gan.losses import LOSSES
from gan_bench.gan.penalties import PENALTIES
from gan_bench.metrics.evaluate import METRICS
from gan_bench.nets import ARCHITECTURES
from gan_bench.sweep import space, sweep_main
from gan_bench.sweep.spec import SweepError, expand_sweep

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(tmp_path, text, name="s.gin"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def _chosen(trials, drop_seed=True):
    return [{k: v for k, v in t.bindings.items() if not (drop_seed and k == "trial.seed")} for t in trials]


def test_grid_is_the_cartesian_product_times_seeds(tmp_path):
    path = _write(tmp_path, """
        sweep.grid = {'trial.loss': ['non_saturating', 'hinge', 'least_squares'], 'trial.n_disc': [1, 5]}
        sweep.seeds = 2
    """)
    trials = expand_sweep(path)
    assert len(trials) == 3 * 2 * 2
    expected = {(loss, n, s) for loss in ("non_saturating", "hinge", "least_squares") for n in (1, 5) for s in (0, 1)}
    got = {(t.bindings["trial.loss"], t.bindings["trial.n_disc"], t.seed) for t in trials}
    assert got == expected
    assert all(t.bindings["trial.seed"] == t.seed for t in trials)


def test_union_of_subgrids_and_seed_list(tmp_path):
    path = _write(tmp_path, """
        sweep.grid = [{'trial.penalty': ['none']},
                      {'trial.penalty': ['wgan_gp'], 'trial.penalty_weight': [1.0, 10.0]},
                      {'trial.penalty': ['none']}]
        sweep.seed_list = [0, 7]
    """)
    trials = expand_sweep(path)
    # 1 + 2 + 1 points, the repeated 'none' point counted once; times 2 seeds.
    assert len(trials) == 3 * 2
    assert sorted({t.seed for t in trials}) == [0, 7]
    points = {tuple(sorted(b.items())) for b in _chosen(trials)}
    assert points == {(("trial.penalty", "none"),),
                      (("trial.penalty", "wgan_gp"), ("trial.penalty_weight", 1.0)),
                      (("trial.penalty", "wgan_gp"), ("trial.penalty_weight", 10.0))}


RANDOM = """
    sweep.random = {'trial.g_lr': ('log_uniform', 1e-5, 1e-2), 'trial.beta1': ('uniform', 0.0, 1.0),
                    'trial.n_disc': ('choice', [1, 5]), 'trial.z_dim': ('int_uniform', 2, 4)}
    sweep.num_random = %d
"""


def test_random_search_is_deterministic_and_extends_without_redrawing(tmp_path):
    a = expand_sweep(_write(tmp_path, RANDOM % 30, "a.gin"))
    b = expand_sweep(_write(tmp_path, RANDOM % 30, "b.gin"))
    assert [t.id for t in a] == [t.id for t in b] and _chosen(a) == _chosen(b)
    longer = expand_sweep(_write(tmp_path, RANDOM % 40, "c.gin"))
    assert [t.id for t in longer[:30]] == [t.id for t in a]
    reseeded = expand_sweep(_write(tmp_path, RANDOM % 30 + "sweep.random_seed = 1\n", "d.gin"))
    assert all(x["trial.g_lr"] != y["trial.g_lr"] for x, y in zip(_chosen(a), _chosen(reseeded)))


def test_random_distributions_bounds_and_spread(tmp_path):
    trials = expand_sweep(_write(tmp_path, RANDOM % 400), validate=False)
    lrs = np.array([t.bindings["trial.g_lr"] for t in trials])
    betas = np.array([t.bindings["trial.beta1"] for t in trials])
    assert lrs.min() >= 1e-5 and lrs.max() <= 1e-2
    assert betas.min() >= 0.0 and betas.max() < 1.0
    # log10(lr) ~ U[-5, -2] and beta1 ~ U[0, 1]: Kolmogorov-Smirnov against scipy's uniform.
    assert scipy.stats.kstest(np.log10(lrs), scipy.stats.uniform(loc=-5, scale=3).cdf).pvalue > 1e-3
    assert scipy.stats.kstest(betas, scipy.stats.uniform(loc=0, scale=1).cdf).pvalue > 1e-3
    # A log-uniform draw is not uniform in lr itself: most mass sits below the midpoint 5e-3.
    assert np.mean(lrs < 5e-3) > 0.85
    n_disc = [t.bindings["trial.n_disc"] for t in trials]
    z_dim = [t.bindings["trial.z_dim"] for t in trials]
    assert set(n_disc) == {1, 5} and set(z_dim) == {2, 3, 4}
    # choice and int_uniform are uniform over their values: chi-square against equal counts.
    assert scipy.stats.chisquare(np.bincount(z_dim)[2:]).pvalue > 1e-3


def test_conditional_space_draws_only_when_its_condition_holds(tmp_path):
    path = _write(tmp_path, """
        sweep.grid = {'trial.penalty': ['none', 'wgan_gp', 'dragan', 'weight_clipping'],
                      'trial.loss': ['wasserstein']}
        sweep.random = {'trial.g_lr': ('log_uniform', 1e-4, 1e-3)}
        sweep.conditional = [
            ({'trial.penalty': ('not_in', ['none', 'weight_clipping'])},
             {'trial.penalty_weight': ('log_uniform', 0.1, 100.0)}),
            ({'trial.penalty': ['weight_clipping']}, {'trial.clip_value': ('log_uniform', 1e-3, 1.0)}),
        ]
        sweep.num_random = 5
    """)
    trials = expand_sweep(path)
    assert len(trials) == 4 * 5
    for t in trials:
        penalty = t.bindings["trial.penalty"]
        assert ("trial.penalty_weight" in t.bindings) == (penalty in ("wgan_gp", "dragan"))
        assert ("trial.clip_value" in t.bindings) == (penalty == "weight_clipping")
        if "trial.penalty_weight" in t.bindings:
            assert 0.1 <= t.bindings["trial.penalty_weight"] <= 100.0
        if "trial.clip_value" in t.bindings:
            assert 1e-3 <= t.bindings["trial.clip_value"] <= 1.0
    # Common random numbers: sample j of lambda is the same for wgan_gp and dragan.
    by = {(t.bindings["trial.penalty"], t.bindings["trial.g_lr"]): t.bindings.get("trial.penalty_weight")
          for t in trials}
    for (penalty, lr), lam in by.items():
        if penalty == "wgan_gp":
            assert by[("dragan", lr)] == lam


def test_ids_are_stable_and_follow_the_operative_config(tmp_path):
    base = tmp_path / "base.gin"
    base.write_text("trial.train_steps = 100\n")
    sweep = "include '{}'\nsweep.grid = {{'trial.loss': ['hinge', 'least_squares']}}\n"
    first = expand_sweep(_write(tmp_path, sweep.format(base), "a.gin"))
    again = expand_sweep(_write(tmp_path, sweep.format(base), "a.gin"))
    assert [t.id for t in first] == [t.id for t in again] and len({t.id for t in first}) == 2
    assert all(len(t.id) == 12 and int(t.id, 16) >= 0 for t in first)
    base.write_text("# a comment and spacing do not change the configuration\ntrial.train_steps   =  100\n")
    assert [t.id for t in expand_sweep(_write(tmp_path, sweep.format(base), "a.gin"))] == [t.id for t in first]
    base.write_text("trial.train_steps = 101\n")
    assert not {t.id for t in expand_sweep(_write(tmp_path, sweep.format(base), "a.gin"))} & {t.id for t in first}
    changed = expand_sweep(_write(tmp_path, sweep.format(base).replace("'hinge'", "'minimax'"), "b.gin"))
    assert changed[1].id == expand_sweep(_write(tmp_path, sweep.format(base), "c.gin"))[1].id
    assert changed[0].id != expand_sweep(_write(tmp_path, sweep.format(base), "c.gin"))[0].id


def test_trial_records_and_gin_bindings(tmp_path):
    path = _write(tmp_path, """
        include 'gin_configs/presets/smoke.gin'
        trial.batch_size = 32
        sweep.grid = {'trial.loss': ['hinge']}
    """)
    (t,) = expand_sweep(path)
    rec = t.record()
    assert t.gin_files == (os.path.join(REPO, "gin_configs", "presets", "smoke.gin"),)  # what trials run from
    assert rec["gin_files"] == [os.path.join("gin_configs", "presets", "smoke.gin")]  # recorded: repo-relative
    assert rec["bindings"] == {"trial.loss": "hinge", "trial.seed": 0} and rec["seed"] == 0
    assert rec["gin_bindings"] == ["trial.batch_size = 32", "trial.loss = 'hinge'", "trial.seed = 0"]
    assert rec["sweep"] == path  # outside the repository: kept as it is


@pytest.mark.parametrize("text, pattern", [
    ("sweep.grid = {'trial.los': ['hinge']}", r"s\.gin, line 1: unknown key 'trial\.los'"),
    ("trial.los = 'hinge'\nsweep.seeds = 1", r"line 1: unknown key 'trial\.los'"),
    ("sweep.grid = {}", r"line 1: sweep\.grid must be a non-empty"),
    ("sweep.grid = []", r"line 1: sweep\.grid must be a non-empty"),
    ("sweep.grid = {'trial.loss': []}", r"line 1: sweep\.grid key 'trial\.loss': values must be a non-empty list"),
    ("sweep.random = {'trial.g_lr': ('loguniform', 1e-5, 1e-2)}\nsweep.num_random = 2",
     r"line 1: sweep\.random key 'trial\.g_lr': unknown distribution 'loguniform'"),
    ("sweep.random = {'trial.g_lr': ('log_uniform', 0.0, 1e-2)}\nsweep.num_random = 2",
     r"line 1: .*'trial\.g_lr': log_uniform bounds must be > 0"),
    ("sweep.random = {'trial.beta1': ('uniform', 1.0, 0.0)}\nsweep.num_random = 2",
     r"'trial\.beta1': uniform bounds must satisfy low < high"),
    ("sweep.random = {'trial.n_disc': ('choice', [])}\nsweep.num_random = 2", r"'trial\.n_disc'.*non-empty list"),
    ("sweep.random = {'trial.g_lr': ('uniform', 0.1, 0.2)}", r"sweep\.num_random must be an integer >= 1"),
    ("include 'no/such/base.gin'\nsweep.seeds = 2", r"line 1: include file not found: 'no/such/base\.gin'"),
    ("sweep.gird = {'trial.loss': ['hinge']}", r"line 1: unknown sweep parameter 'sweep\.gird'"),
    ("sweep.seeds = 2\nsweep.seed_list = [1]", r"line 2: give either sweep\.seeds"),
    ("sweep.grid = {'trial.seed': [1, 2]}", r"line 1: 'trial\.seed' cannot be searched"),
    ("sweep.grid = {'trial.loss': ['hinge']\n", r"s\.gin, line \d: gin syntax error"),
    ("trial.train_steps = 10", r"no sweep\.\* bindings"),
    ("sweep.grid = {'trial.d_norm': ['none', 'group']}", r"trial [0-9a-f]{12} with bindings .*group.*d_norm"),
    ("sweep.grid = {'nosuchscope.width': [1]}", r"trial [0-9a-f]{12} .*nosuchscope"),
    ("sweep.conditional = [({'trial.penalty': ['wgan_gp']}, {'trial.penalty_weight': ('uniform', 1, 2)})]\n"
     "sweep.num_random = 1", r"condition key 'trial\.penalty' is not searched"),
])
def test_malformed_sweep_files_name_file_line_and_key(tmp_path, text, pattern):
    with pytest.raises(ValueError, match=pattern):
        expand_sweep(_write(tmp_path, text + "\n"))


def test_missing_sweep_file(tmp_path):
    with pytest.raises(ValueError, match="sweep file not found: .*nope.gin"):
        expand_sweep(str(tmp_path / "nope.gin"))


def test_dry_run_lists_trials_and_writes_nothing(tmp_path):
    path = _write(tmp_path, "sweep.grid = {'trial.loss': ['hinge', 'minimax']}\nsweep.seeds = 2\n")
    printed = []
    out = sweep_main(path, str(tmp_path / "results"), dry_run=True, print_fn=printed.append)
    lines = printed[0].splitlines()
    assert lines[0].startswith("4 trials") and len(lines) == 5
    assert [line.split()[0] for line in lines[1:]] == [r["id"] for r in out["trials"]]
    assert all(line.split()[1] == "pending" for line in lines[1:])
    assert not os.path.exists(tmp_path / "results")


def test_space_helpers_match_hand_computed_values():
    assert len(space.grid_points({"a": [1, 2, 3], "b": [4, 5]})) == 6
    assert len(space.grid_points([{"a": [1]}, {"a": [2, 3], "b": [4, 5]}])) == 1 + 4
    assert space.condition_holds({"p": ("not_in", ["none"])}, {"p": "wgan_gp"})
    assert not space.condition_holds({"p": ["wgan_gp"]}, {"q": "wgan_gp"})
    draws = [space.sample(("log_uniform", 1e-3, 1e3), 0, "k", i) for i in range(2000)]
    assert abs(np.median(np.log10(draws))) < 0.2  # median of U[-3, 3] is 0
    assert all(math.isfinite(d) for d in draws)


def test_tuple_key_shares_one_draw(tmp_path):
    path = _write(tmp_path, """
        sweep.random = {('trial.g_lr', 'trial.d_lr'): ('log_uniform', 1e-4, 1e-3)}
        sweep.num_random = 10
    """)
    trials = expand_sweep(path)
    assert len({t.bindings["trial.g_lr"] for t in trials}) == 10
    assert all(t.bindings["trial.g_lr"] == t.bindings["trial.d_lr"] for t in trials)
    with pytest.raises(ValueError, match=r"unknown key 'trial\.d_rl'"):
        expand_sweep(_write(tmp_path, "sweep.random = {('trial.g_lr', 'trial.d_rl'): ('uniform', 0.1, 0.2)}\n"
                                      "sweep.num_random = 1\n", "bad.gin"))


@pytest.mark.parametrize("name, count", [
    ("quickstart.gin", 18),  # ring8, grid25 x (NS GAN, NS GAN + R1, PacGAN2) x 3 seeds
    ("are_gans_created_equal/mnist_wide.gin", 6 * 100),  # 6 models x 100 random settings
    ("are_gans_created_equal/cifar10_narrow.gin", 6 * 50),
    ("regularization_normalization/sndcgan_cifar10.gin", 4 * 4 * 4 * 3),  # loss x penalty x norm x 3 seeds
])
def test_shipped_sweep_files_expand_and_validate(name, count):
    trials = expand_sweep(os.path.join(REPO, "sweeps", name))
    assert len(trials) == count and len({t.id for t in trials}) == count


def test_every_bad_trial_is_reported_together_one_line_each(tmp_path):
    path = _write(tmp_path, "sweep.grid = {'trial.loss': ['hinge', 'wasserstien'], 'trial.d_norm': ['none', 'spectal']}\n")
    with pytest.raises(SweepError) as info:
        expand_sweep(path)
    lines = info.value.lines
    assert str(info.value) == "\n".join(lines)
    assert len(lines) == 3  # all four points but (hinge, none)
    by_point = {(t.bindings["trial.loss"], t.bindings["trial.d_norm"]): t.id for t in expand_sweep(path, validate=False)}
    for (loss, norm), line in zip([("hinge", "spectal"), ("wasserstien", "none"), ("wasserstien", "spectal")], lines):
        assert line.startswith(f"sweep file {path}, line 1: trial {by_point[(loss, norm)]} with bindings ")
        assert ("did you mean 'wasserstein'?" in line) == (loss == "wasserstien")
        assert ("did you mean 'spectral'?" in line) == (norm == "spectal")
    assert f"known losses: {', '.join(sorted(LOSSES.names()))}" in lines[1]


@pytest.mark.parametrize("key, value, bad, known", [
    ("trial.penalty", "wgangp", "wgangp", lambda: PENALTIES.names()),
    ("trial.architecture", "resnet", "resnet", lambda: ARCHITECTURES.names()),
    ("trial.dataset", "mnsit", "mnsit", lambda: DATASETS.names()),
    ("trial.metrics", ["fid", "kdi"], "kdi", lambda: METRICS.names()),
    ("trial.optimizer", "adamw", "adamw", lambda: ("adam", "rmsprop")),
    ("trial.g_norm", "layer", "layer", lambda: ("none", "batch")),
])
def test_each_registry_named_key_is_checked_against_its_registry(tmp_path, key, value, bad, known):
    with pytest.raises(SweepError) as info:
        expand_sweep(_write(tmp_path, f"sweep.grid = {{'trial.loss': ['hinge'], {key!r}: [{value!r}]}}\n"))
    (line,) = info.value.lines
    assert f": {key}" in line and repr(bad) in line and ", ".join(known()) in line


def test_every_choice_is_checked_even_if_no_sample_draws_it(tmp_path):
    text = ("sweep.random = {'trial.loss': ('choice', ['hinge', 'minimax', 'least_squares', 'non_saturating', "
            "'wasserstien'])}\nsweep.num_random = 1\nsweep.random_seed = %d\n")
    seed = next(s for s in range(50) if expand_sweep(_write(tmp_path, text % s, f"probe{s}.gin"), validate=False)
                [0].bindings["trial.loss"] != "wasserstien")
    path = _write(tmp_path, text % seed)
    with pytest.raises(SweepError) as info:
        expand_sweep(path)
    assert info.value.lines == [f"sweep file {path}, line 1: sweep.random key 'trial.loss', choice 'wasserstien': "
                                f"trial.loss: unknown loss 'wasserstien'; known losses: "
                                f"{', '.join(sorted(LOSSES.names()))}; did you mean 'wasserstein'?"]


def test_conditional_choices_and_non_trial_keys_are_checked(tmp_path):
    path = _write(tmp_path, """
        sweep.grid = {'trial.penalty': ['none', 'wgan_gp']}
        sweep.conditional = [({'trial.penalty': ['wgan_gp']}, {'trial.d_norm': ('choice', ['none', 'spectal']),
                                                                'mlp.widht': ('choice', [1, 2])})]
        sweep.num_random = 1
    """)
    with pytest.raises(SweepError) as info:
        expand_sweep(path)
    lines = info.value.lines
    assert "sweep.conditional key 'trial.d_norm', choice 'spectal'" in lines[0] and "'spectral'" in lines[0]
    assert "sweep.conditional key 'mlp.widht', choice 1" in lines[1] and "widht" in lines[1]
    assert all("line 2" in line or "line 3" in line for line in lines)


def test_grid_values_cut_off_by_max_trials_are_still_checked(tmp_path):
    path = _write(tmp_path, "sweep.grid = {'trial.loss': ['hinge', 'wasserstien']}\n")
    with pytest.raises(SweepError) as info:
        expand_sweep(path, max_trials=1)
    assert info.value.lines == [f"sweep file {path}, line 1: sweep.grid key 'trial.loss', value 'wasserstien': "
                                f"trial.loss: unknown loss 'wasserstien'; known losses: "
                                f"{', '.join(sorted(LOSSES.names()))}; did you mean 'wasserstein'?"]


def test_results_that_is_a_file_is_refused_before_expansion(tmp_path):
    a_file = tmp_path / "results"
    a_file.write_text("")
    with pytest.raises(ValueError, match=r"results .*results is an existing file"):
        sweep_main(str(tmp_path / "no_such_sweep.gin"), str(a_file), dry_run=True)
