"""The precision level of every contraction in a lowered program: what a test reads where a CPU cannot tell
the levels apart by the numbers (it computes float32 at every level)."""
import re


def contraction_levels(lowered_text: str) -> list:
    """For each convolution and dot_general of a lowered program's StableHLO text, in program order, its
    operands' precision level: 'HIGHEST', 'HIGH' or 'DEFAULT' (also when the op names none). AssertionError
    for an op whose two operands differ."""
    levels = []
    for line in lowered_text.splitlines():
        if "stablehlo.convolution" not in line and "stablehlo.dot_general" not in line:
            continue
        config = re.search(r"precision(?:_config)? = \[([^\]]*)\]", line)
        found = set(re.findall(r"\b(HIGHEST|HIGH|DEFAULT)\b", config.group(1))) if config else {"DEFAULT"}
        assert len(found) == 1, line
        levels.append(found.pop())
    return levels
