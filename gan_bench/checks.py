"""The type tests that every check of a user's value shares.

Values come from gin, JSON and numpy, so a count may be a Python or a numpy integer; and Python's bool is an
int, though True is never a count, a rate or a weight here. Without numpy scalars and with bool refused, these
two say once what "a whole number" and "a number" mean in the package's error messages.
"""
import numpy as np


def is_whole(value) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value) -> bool:
    """A Python or numpy integer or float, not a bool (NaN and infinities included: ranges refuse them)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
