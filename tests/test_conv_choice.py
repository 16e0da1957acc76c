"""trial.conv_impl: explicit names, 'auto' (fixed on CPU, measured and cached elsewhere), the trial-folder record."""
import json
import os

import gin
import jax
import jax.numpy as jnp
import pytest

from gan_bench import nets
from gan_bench.config import CHOICES, parse_config
from gan_bench.nets import conv_choice


def _tiny_build(name):
    """build(conv) -> (G, D) of a tiny family, and the (G input, D input) shapes."""
    shape = (2,) if name == "mlp" else (8, 8, 1)
    gin.bind_parameter(f"{name}.g_width", 2)
    gin.bind_parameter(f"{name}.d_width", 2)

    def build(conv):
        return nets.build(name, data_shape=shape, z_dim=3, d_norm="spectral", g_norm="batch", conv=conv)
    return build, (4, 3), (8,) + shape


def test_config_offers_the_implementations_the_nets_know():
    assert CHOICES["conv_impl"] == nets.CONV_IMPLS
    assert parse_config((), ["trial.conv_impl = 'xla'"]).conv_impl == "xla"
    with pytest.raises(ValueError, match="trial.conv_impl = 'fast'"):
        parse_config((), ["trial.conv_impl = 'fast'"])


@pytest.mark.parametrize("population", [0, 3])
@pytest.mark.parametrize("name", ["xla", "cpu_tuned"])
def test_an_explicit_name_is_that_implementation(name, population, tmp_path):
    build, g_in, d_in = _tiny_build("dcgan")
    choice = nets.choose_conv_impl(name, build, g_in, d_in, population, cache_dir=str(tmp_path))
    assert choice.chosen == name and choice.impl == nets.conv_impl(name, population > 0)
    assert choice.member_impl == nets.conv_impl(name)
    assert os.listdir(tmp_path) == []  # nothing measured


def test_unknown_name_is_refused_before_anything_is_built():
    def build(conv):
        raise AssertionError("built")
    with pytest.raises(ValueError, match="trial.conv_impl = 'fastest'; expected one of auto, xla, cpu_tuned"):
        nets.choose_conv_impl("fastest", build, (4, 3), (8, 2))


def test_auto_on_cpu_is_the_tuned_forms_without_measuring(tmp_path):
    """On CPU 'auto' must give the numbers of the CPU-tuned forms (the numbers before the switch existed)."""
    build, g_in, d_in = _tiny_build("dcgan")
    solo = nets.choose_conv_impl("auto", build, g_in, d_in, cache_dir=str(tmp_path))
    population = nets.choose_conv_impl("auto", build, g_in, d_in, population=4, cache_dir=str(tmp_path))
    assert solo.impl == nets.CpuTunedConv(64) and population.impl == nets.CpuTunedConv(float("inf"))
    assert population.member_impl == nets.CpuTunedConv(64)
    assert solo.seconds is None and os.listdir(tmp_path) == []


def test_auto_measures_once_and_caches_the_decision(tmp_path):
    """Where 'auto' measures (here: forced on CPU), the faster implementation of the recorded timings is chosen
    and the decision is written to the cache folder; the next run of the same shapes reads it from there."""
    build, g_in, d_in = _tiny_build("dcgan")
    first = nets.choose_conv_impl("auto", build, g_in, d_in, fixed_auto={}, cache_dir=str(tmp_path))
    assert set(first.seconds) == {"xla", "cpu_tuned"} and all(t > 0 for t in first.seconds.values())
    assert first.chosen == min(first.seconds, key=first.seconds.get)
    (cache_file,) = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    with open(cache_file) as f:
        cached = json.load(f)
    assert cached["chosen"] == first.chosen and cached["key"]["backend"] == "cpu"
    other = "xla" if first.chosen == "cpu_tuned" else "cpu_tuned"  # the cache, not a new measurement, decides
    with open(cache_file, "w") as f:
        json.dump({**cached, "chosen": other}, f)
    again = nets.choose_conv_impl("auto", build, g_in, d_in, fixed_auto={}, cache_dir=str(tmp_path))
    assert again.chosen == other
    wider = nets.choose_conv_impl("auto", build, (6, 3), (12, 8, 8, 1), fixed_auto={}, cache_dir=str(tmp_path))
    assert wider.seconds is not None  # other shapes: another measurement, another cache entry
    assert len([f for _, _, files in os.walk(tmp_path) for f in files]) == 2


def test_auto_without_convolutions_takes_xla_untimed(tmp_path):
    build, g_in, d_in = _tiny_build("mlp")
    choice = nets.choose_conv_impl("auto", build, g_in, d_in, population=2, fixed_auto={}, cache_dir=str(tmp_path))
    assert choice.chosen == "xla" and choice.seconds is None and "same program" in choice.reason


def test_a_resumed_trial_keeps_its_recorded_choice(tmp_path):
    """The record in the trial folder wins over the backend's fixed answer, so a trial resumed on another
    machine continues with the convolutions it started with."""
    build, g_in, d_in = _tiny_build("dcgan")
    workdir = str(tmp_path / "trial")
    os.makedirs(workdir)
    started = nets.ConvChoice("auto", "xla", False, "measured on the first machine", {"xla": 1.0, "cpu_tuned": 2.0})
    nets.write_conv_record(workdir, started)
    with open(os.path.join(workdir, conv_choice.RECORD_FILE)) as f:
        record = json.load(f)
    assert record["chosen"] == "xla" and record["conv_impl"] == "auto" and record["impl"] == "XlaConv()"
    resumed = nets.choose_conv_impl("auto", build, g_in, d_in, population=2, workdirs=[workdir],
                                    cache_dir=str(tmp_path / "cache"))
    assert resumed.impl == nets.XlaConv() and resumed.reason == started.reason
    explicit = nets.choose_conv_impl("cpu_tuned", build, g_in, d_in, workdirs=[workdir])
    assert explicit.chosen == "cpu_tuned"  # an explicit key is obeyed whatever the record says
    with open(os.path.join(workdir, conv_choice.RECORD_FILE), "w") as f:
        f.write("{not json")
    with pytest.raises(ValueError, match="conv_impl.json is not readable JSON"):
        nets.choose_conv_impl("auto", build, g_in, d_in, workdirs=[workdir])


def test_members_that_disagree_are_decided_again(tmp_path):
    build, g_in, d_in = _tiny_build("dcgan")
    folders = []
    for i, name in enumerate(("xla", "cpu_tuned")):
        folders.append(str(tmp_path / f"m{i}"))
        os.makedirs(folders[-1])
        nets.write_conv_record(folders[-1], nets.ConvChoice("auto", name, True, "first run"))
    choice = nets.choose_conv_impl("auto", build, g_in, d_in, population=2, workdirs=folders)
    assert choice.chosen == "cpu_tuned" and "fixed for backend 'cpu'" in choice.reason


def test_modules_carry_the_choice_as_a_static_field():
    """No module state is read while tracing: two nets built with different implementations coexist and each
    traces its own convolutions (XLA's conv ops vs the im2col matmuls of the CPU forms at 8x8)."""
    build, _, d_in = _tiny_build("dcgan")
    _, lax_d = build(nets.XlaConv())
    _, tuned_d = build(nets.CpuTunedConv())
    x = jnp.zeros(d_in)
    variables = lax_d.init(jax.random.PRNGKey(0), x, train=False)
    lax_text = str(jax.make_jaxpr(lambda v: lax_d.apply(v, x, train=False))(variables))
    tuned_text = str(jax.make_jaxpr(lambda v: tuned_d.apply(v, x, train=False))(variables))
    assert "conv_general_dilated" in lax_text and "conv_general_dilated" not in tuned_text
