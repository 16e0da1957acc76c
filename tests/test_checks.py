"""The shared value tests (gan_bench/checks.py) and one refusal through each kind of caller.

Oracle: what the package's messages promise ("a positive integer", "a number"): bools are refused though
Python counts them as ints, numpy scalars are taken as gin and JSON users pass them.
"""
import numpy as np
import pytest

from gan_bench.checks import is_number, is_whole
from gan_bench.nets.base import check_positive
from gan_bench.report.load import check_at_step


@pytest.mark.parametrize("value,whole,number", [
    (3, True, True), (np.int64(3), True, True), (np.uint8(3), True, True), (0, True, True), (-2, True, True),
    (True, False, False), (np.bool_(True), False, False), (2.0, False, True), (np.float32(0.5), False, True),
    (float("nan"), False, True), ("3", False, False), (None, False, False), ([3], False, False),
])
def test_whole_and_number(value, whole, number):
    assert is_whole(value) is whole and is_number(value) is number


def test_callers_refuse_bools_and_fractions_and_take_numpy_ints():
    check_positive("dcgan", width=np.int32(8))
    check_at_step(np.int64(10))
    for bad in (True, 2.5, 0):
        with pytest.raises(ValueError, match=r"dcgan.width = .*; expected a positive integer"):
            check_positive("dcgan", width=bad)
        with pytest.raises(ValueError, match=r"at_step=.*: expected a positive whole number of steps"):
            check_at_step(bad)
