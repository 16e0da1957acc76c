"""`--population auto`: the largest population that fits a worker's memory.

Oracles: closed-form sizes for probes with a known memory curve; for the real compiled step, peaks compiled
independently at other sizes (memory is linear in the members, so two sizes predict a third); the sweep's
units, counted by a stand-in population function.
"""
import json
import math
import os
import textwrap
import time

import pytest

from gan_bench import cli
from gan_bench.atomic import atomic_write_json
from gan_bench.config import parse_config
from gan_bench.sweep import sizing, store, sweep_main
from gan_bench.sweep.spec import Trial
from gan_bench.train import population_size
from gan_bench.train.population_size import USABLE_FRACTION, largest_population, line_fit, step_peak_bytes

TINY = ["trial.dataset = 'ring8'", "trial.architecture = 'mlp'", "trial.g_norm = 'none'", "trial.d_norm = 'none'",
        "trial.z_dim = 8", "trial.batch_size = 32", "trial.train_steps = 2", "trial.log_every = 0",
        "trial.eval_every = 0", "trial.ckpt_every = 2", "trial.metrics = []", "mlp.g_width = 16",
        "mlp.d_width = 16"]


def budget_for(limit):
    """A budget whose planned part (USABLE_FRACTION of it) is at least `limit` bytes, and not a byte more than
    rounding needs."""
    return math.ceil(limit / USABLE_FRACTION)


def test_line_fit_is_the_crossing_of_the_line_through_the_two_largest_sizes():
    # 1,000 + 400 P: 3,000 bytes hold P = 5; 2,999 hold 4.
    assert line_fit({1: 1400, 2: 1800, 4: 2600}, 3000) == 5
    assert line_fit({2: 1800, 4: 2600}, 2999) == 4
    assert line_fit({2: 1800, 4: 2600}, 3000, multiple=2) == 4
    assert line_fit({2: 1800, 4: 2600}, 1000) == 0
    assert line_fit({2: 500, 8: 500}, 600) == 8  # nothing grows with P: the larger size is as good as any
    assert line_fit({2: 500, 8: 500}, 400) == 0


@pytest.mark.parametrize("cap,multiple,expected", [(64, 1, 23), (64, 4, 20), (10, 1, 10), (23, 1, 23),
                                                   (24, 1, 23)])
def test_linear_memory_gives_the_closed_form_size(cap, multiple, expected):
    """10,000 + 3,000 P bytes, 80,000 planned: P = floor(70,000 / 3,000) = 23."""
    probed = []

    def probe(p):
        probed.append(p)
        return 10_000 + 3_000 * p
    sizing_ = largest_population(probe, cap, budget_for(80_000), multiple)
    assert sizing_.members == expected
    assert all(p % multiple == 0 for p in probed)
    assert len(probed) <= 3  # the cap, the smallest size, and the size the line picks
    assert sizing_.peak_bytes == {p: 10_000 + 3_000 * p for p in probed}


def test_even_the_smallest_population_not_fitting_means_one_trial_at_a_time():
    sizing_ = largest_population(lambda p: 1_000_000 * p, 8, budget_for(500_000))
    assert sizing_.members == 1 and "each trial alone" in sizing_.reason


@pytest.mark.parametrize("curve", [lambda p: 1_000 + 10 * p * p, lambda p: 1_000 + 4_000 * math.sqrt(p),
                                   lambda p: 1_000 + 300 * p + (5_000 if p > 17 else 0)])
def test_a_curved_or_stepped_memory_never_gets_a_size_that_does_not_fit(curve):
    """XLA's buffer assignment can bend the line; the answer is always a size that was compiled and fits."""
    limit = 20_000
    sizing_ = largest_population(curve, 200, budget_for(limit))
    assert curve(sizing_.members) <= limit
    assert sizing_.members in sizing_.peak_bytes
    assert len(sizing_.peak_bytes) <= population_size.MAX_PROBES
    best = max(p for p in range(1, 201) if curve(p) <= limit)
    assert sizing_.members >= 0.8 * best, (sizing_.members, best, sizing_.reason)


@pytest.fixture(scope="module")
def tiny_peaks():
    cfg = parse_config([], TINY)
    return {p: step_peak_bytes(cfg, p) for p in (1, 2, 3, 5)}


def test_compiled_peak_is_linear_in_the_members(tiny_peaks):
    """Sizes 1 and 2 predict the separately compiled peaks of 3 and 5 members to 1 %."""
    slope = tiny_peaks[2] - tiny_peaks[1]
    assert slope > 0
    for p in (3, 5):
        predicted = tiny_peaks[1] + slope * (p - 1)
        assert abs(predicted - tiny_peaks[p]) <= 0.01 * tiny_peaks[p], (p, predicted, tiny_peaks[p])


def test_a_budget_between_two_compiled_peaks_gives_the_smaller_size(tiny_peaks):
    exact = population_size.size_population([], TINY, cap=5, memory_bytes=budget_for(tiny_peaks[3]))
    assert exact.members == 3, exact.reason
    short = population_size.size_population([], TINY, cap=5, memory_bytes=budget_for(tiny_peaks[3] - 1) - 1)
    assert short.members == 2, short.reason


def test_the_budget_is_the_allocator_limit_shared_by_the_workers(monkeypatch):
    class Device:
        device_kind = "fake accelerator"

        @staticmethod
        def memory_stats():
            return {"bytes_limit": 1_000_003, "bytes_in_use": 12}
    monkeypatch.setattr(population_size.jax, "local_devices", lambda: [Device()])
    assert population_size.memory_budget(1)[0] == 1_000_003
    budget, source = population_size.memory_budget(2)
    assert budget == 500_001 and "fake accelerator" in source


def test_on_a_cpu_the_budget_is_the_hosts_available_memory_per_worker():
    if population_size.jax.local_devices()[0].memory_stats():
        pytest.skip("an accelerator reports its allocator's limit, the budget of the test above")
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    one, _ = population_size.memory_budget(1)
    two, _ = population_size.memory_budget(2)
    assert 0 < two < one <= available * 1.1  # MemAvailable moves a little between the reads
    assert one - 2 * two == pytest.approx(population_size._proc_kib("/proc/self/status", "VmRSS") * 1024,
                                          rel=0.5)  # each of the two workers pays its own resident size


def test_workers_per_device_follows_the_local_executors_split():
    assert sizing.workers_per_device(4, []) == 4  # a CPU: every worker shares the host
    assert sizing.workers_per_device(2, ["0", "1", "2", "3"]) == 1
    assert sizing.workers_per_device(3, ["0", "1"]) == 2


def test_auto_is_refused_where_this_machine_cannot_measure_the_workers(tmp_path):
    sweep = tmp_path / "s.gin"
    sweep.write_text("trial.train_steps = 2\nsweep.seeds = 2\n")
    with pytest.raises(ValueError, match="ray executor runs trials elsewhere"):
        sweep_main(str(sweep), str(tmp_path / "r"), executor="ray", population="auto")
    with pytest.raises(ValueError, match="population_memory"):
        sweep_main(str(sweep), str(tmp_path / "r"), population=4, population_memory=10**9)
    with pytest.raises(ValueError, match="'auto'"):
        sweep_main(str(sweep), str(tmp_path / "r"), population="8")
    assert not os.path.exists(tmp_path / "r")
    parser = cli.build_parser()
    assert parser.parse_args(["sweep", "x.gin", "--results", "r", "--population", "auto"]).population == "auto"
    assert parser.parse_args(["sweep", "x.gin", "--results", "r", "--population", "3"]).population == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["sweep", "x.gin", "--results", "r", "--population", "0"])


def record_unit(workdirs, gin_files, gin_bindings):
    """A stand-in population function: every member done, with the size of the unit it ran in."""
    for workdir in workdirs:
        atomic_write_json(os.path.join(workdir, "status.json"),
                          {"state": "done", "step": 2, "time": time.time(), "population": len(workdirs)})


def test_sweep_with_population_auto_runs_the_size_that_fits(tmp_path, tiny_peaks):
    """Five trials, memory for two: populations of 2, 2 and 1, and the decision on record."""
    sweep = tmp_path / "s.gin"
    sweep.write_text("\n".join(TINY) + textwrap.dedent("""
        sweep.grid = [{'trial.g_lr': [1e-3, 3e-4, 1e-4, 5e-5, 2e-5]}]
        sweep.seeds = 1
    """))
    results = str(tmp_path / "r")
    memory = budget_for(tiny_peaks[2])
    assert usable_fits(memory, tiny_peaks[2]) and not usable_fits(memory, tiny_peaks[3])
    sweep_main(str(sweep), results, population="auto", population_memory=memory,
               population_fn="test_population_size:record_unit", print_fn=lambda *_: None)
    sizes = [json.load(open(os.path.join(results, t, "status.json")))["population"]
             for t in store.trial_ids(results)]
    assert sorted(sizes) == [1, 2, 2, 2, 2]
    (record,) = json.load(open(os.path.join(results, sizing.SIZES_FILE))).values()
    assert record["members"] == 2 and record["budget_bytes"] == memory and len(record["trials"]) == 5
    assert record["peak_bytes"]["2"] == tiny_peaks[2]  # the child compiled the same program as this process


def usable_fits(budget, peak):
    return population_size.usable(budget) >= peak


def test_a_restarted_sweep_reuses_the_recorded_size(tmp_path, monkeypatch):
    trials = [Trial(id=f"t{i}", sweep="s.gin", gin_files=(), bindings={}, seed=i, gin_bindings=tuple(TINY))
              for i in range(3)]
    calls = []
    monkeypatch.setattr(sizing, "_probe", lambda *a: calls.append(a) or {"members": 2, "reason": "probed"})
    groups = {"key": trials}
    assert sizing.auto_sizes(str(tmp_path), groups, workers=1) == {"key": 2}
    assert sizing.auto_sizes(str(tmp_path), groups, workers=1) == {"key": 2}
    assert len(calls) == 1
    sizing.auto_sizes(str(tmp_path), groups, workers=2)  # two workers share the memory: measured again
    assert len(calls) == 2
