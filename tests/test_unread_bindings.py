"""Gin keys bound for a piece the trial does not choose are reported (`gan_bench.config.unread_bindings`).

The oracle is the configuration itself: each case binds a key of a named piece and says, by hand, whether the
trial chooses that piece (or another one that reads the same configurable).
"""
import logging
import os

import gin
import pytest

from gan_bench import cli
from gan_bench.config import REGISTRY_FIELDS, _registries, parse_config, unread_bindings
from gan_bench.sweep.spec import expand_sweep

RING = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gin_configs", "presets",
                    "ring8_mlp.gin")


def unread(*bindings):
    return unread_bindings(parse_config([], list(bindings)))


@pytest.mark.parametrize("key, value, not_chosen, chosen, why", [
    ("lr_linear.start", "5", [], ["trial.lr_schedule = 'linear'", "trial.train_steps = 100"],
     "trial.lr_schedule = 'constant', not 'linear'"),
    ("cr.weight", "3.0", ["trial.regularizers = ['lecam']"], ["trial.regularizers = ['lecam', 'cr']"],
     "trial.regularizers = ['lecam'] does not include 'cr'"),
    ("dcgan.g_width", "8", [], ["trial.architecture = 'dcgan'", "trial.dataset = 'mnist'"],
     "trial.architecture = 'mlp', not 'dcgan'"),
    ("diffaugment.policy", "'translation'", [], ["trial.augment = 'diffaugment'", "trial.dataset = 'mnist'",
                                                 "trial.architecture = 'dcgan'"],
     "trial.augment = 'none', not 'diffaugment'"),
    ("began.gamma", "0.5", [], ["trial.loss = 'began'", "trial.architecture = 'began_autoencoder'",
                                "trial.dataset = 'mnist'"],
     "trial.loss = 'non_saturating', not 'began'"),
    ("fid.bootstrap", "10", ["trial.metrics = ['kid']"], ["trial.metrics = ['kid', 'fid']"],
     "trial.metrics = ['kid'] does not include 'fid'"),
])
def test_a_key_of_a_piece_not_chosen_is_reported_and_of_a_chosen_one_is_not(key, value, not_chosen, chosen, why):
    assert unread(f"{key} = {value}", *not_chosen) == {key: why}
    assert unread(f"{key} = {value}", *chosen) == {}


@pytest.mark.parametrize("field, value, not_read, read, why", [
    ("clip_value", "0.05", ["trial.penalty = 'wgan_gp'"], ["trial.penalty = 'weight_clipping'"],
     "trial.penalty = 'wgan_gp', not 'weight_clipping'"),
    ("penalty_weight", "5.0", [], ["trial.penalty = 'r1'"], "trial.penalty = 'none' adds no weighted term"),
    ("penalty_weight", "5.0", ["trial.penalty = 'weight_clipping'"], ["trial.penalty = 'dragan'"],
     "trial.penalty = 'weight_clipping' adds no weighted term"),
    ("beta1", "0.0", ["trial.optimizer = 'rmsprop'"], ["trial.optimizer = 'adam'"],
     "trial.optimizer = 'rmsprop' has no beta1"),
    ("ema_start", "100", [], ["trial.ema_decay = 0.999"], "trial.ema_decay = 0.0 keeps no EMA of G"),
    ("train_subset_seed", "3", [], ["trial.train_fraction = 0.5"],
     "trial.train_fraction = 1.0 trains on the whole split"),
    ("ac_weight", "0.5", ["trial.d_conditioning = 'projection'", "trial.dataset = 'mnist'",
                          "trial.architecture = 'dcgan'"],
     ["trial.d_conditioning = 'ac'", "trial.dataset = 'mnist'", "trial.architecture = 'dcgan'"],
     "trial.d_conditioning = 'projection', not 'ac'"),
])
def test_a_trial_field_that_the_other_choices_do_not_read(field, value, not_read, read, why):
    assert unread(f"trial.{field} = {value}", *not_read) == {f"trial.{field}": why}
    assert unread(f"trial.{field} = {value}", *read) == {}
    assert unread(*not_read) == {}  # left at its default it is not a binding


def test_a_configurable_shared_by_pieces_is_read_when_any_of_them_is_chosen():
    """inception_features.* is read by every Inception metric: kid alone reads it, modes_2d does not."""
    assert unread("inception_features.batch_size = 10", "trial.metrics = ['kid']") == {}
    assert unread("inception_features.batch_size = 10", "trial.metrics = ['prdc']") == {}
    assert set(unread("inception_features.batch_size = 10", "trial.metrics = ['modes_2d']")) == {
        "inception_features.batch_size"}


def test_every_key_of_an_unchosen_piece_is_listed_and_defaults_are_not_bindings():
    assert set(unread("lecam.weight = 0.1", "lecam.decay = 0.9", "cr.weight = 1.0")) == {
        "lecam.weight", "lecam.decay", "cr.weight"}
    assert unread() == {}  # nothing bound: every piece runs on its defaults


def test_every_declared_configurable_is_known_to_gin():
    """A misspelled declaration would make its piece's keys unreportable; gin names every one of them."""
    parse_config()
    for field in REGISTRY_FIELDS:
        registry = _registries()[field]
        for name in registry.names():
            for configurable in registry.gin_configurables(name):
                gin.get_bindings(configurable)  # ValueError for a name gin does not know


def test_sweep_warns_only_for_keys_no_trial_reads(tmp_path, caplog):
    """A grid over schedules binds lr_linear.start for the trials that read it: no warning. cr.weight with no
    trial choosing 'cr' is a slip: one warning naming the file, the key and why."""
    path = tmp_path / "s.gin"
    path.write_text(f"include '{RING}'\n"
                    "sweep.grid = {'trial.lr_schedule': ['constant', 'linear']}\n"
                    "lr_linear.start = 10\n"
                    "cr.weight = 5.0\n"
                    "sweep.seeds = 2\n")
    with caplog.at_level(logging.WARNING, logger="gan_bench"):
        trials = expand_sweep(str(path))
    assert len(trials) == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0] and "cr.weight" in warnings[0] and "none of the 4 trials" in warnings[0]
    assert "does not include 'cr'" in warnings[0]


def test_train_warns_before_it_runs(tmp_path, caplog, monkeypatch):
    """`gan-bench train` logs each unread key after the config is checked and before the trial runs."""
    import gan_bench.train  # pylint: disable=import-outside-toplevel
    logged_before_run = []

    def run_trial(*args, **kwargs):
        logged_before_run.extend(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        return {"state": "done"}

    monkeypatch.setattr(gan_bench.train, "run_trial", run_trial)
    with caplog.at_level(logging.WARNING, logger="gan_bench"):
        code = cli.main(["train", "--gin_file", RING, "--gin_binding", "ada.target = 0.7",
                         "--workdir", str(tmp_path / "w"), "--no_compilation_cache"])
    assert code == 0
    assert logged_before_run == ["gin key ada.target is bound but this trial does not read it: "
                                 "trial.augment = 'none', not 'ada'"]
