"""Published numbers the report sets beside a study's own, keyed by their source.

A trial names its source through its preset: `PRESET_SOURCES` maps a preset file (as trial.json's `gin_files`
record it) to a key of `SOURCES`. Each source lists its variants (the `trial.pack` values of its columns and the
paper's names for them), its metrics (the metrics.jsonl key, the paper's column name, the factor from our value
to the paper's unit) and, per dataset and variant, the published mean and std over the paper's runs. A variant
the paper did not run has no entry and is shown blank beside ours.
"""
import dataclasses
import os
from typing import Dict, Optional, Sequence, Tuple


@dataclasses.dataclass(frozen=True)
class PublishedMetric:
    key: str  # the metrics.jsonl key of our value
    label: str  # the paper's column name
    scale: float = 1.0  # our value times this is in the paper's unit (a fraction as a percentage: 100)
    decimals: int = 2


@dataclasses.dataclass(frozen=True)
class Source:
    title: str
    citation: str
    variants: Tuple[Tuple[int, str], ...]  # (trial.pack, the paper's name), in the paper's column order
    metrics: Tuple[PublishedMetric, ...]
    values: Dict[str, Dict[int, Dict[str, Tuple[float, float]]]]  # dataset -> pack -> metric key -> (mean, std)
    runs: int  # runs per published mean
    protocol: str  # what the published numbers were measured on, for the caption


_MODES_2D = (PublishedMetric("modes_covered", "modes", decimals=1),
             PublishedMetric("high_quality_fraction", "high-quality samples (%)", 100.0, decimals=1),
             PublishedMetric("reverse_kl", "reverse KL", decimals=2))



def _mixture(modes, high_quality_percent, reverse_kl):
    """One published cell group of Table 1: (mean, std) of each of its three metrics."""
    return {"modes_covered": modes, "high_quality_fraction": high_quality_percent, "reverse_kl": reverse_kl}


SOURCES = {
    "pacgan_table1": Source(
        title="PacGAN Table 1: 2-D ring and grid",
        citation="Lin, Khetan, Fanti, Oh. PacGAN: The power of two samples in generative adversarial networks. "
                 "NeurIPS 2018, Table 1",
        variants=((1, "GAN"), (2, "PacGAN2"), (3, "PacGAN3"), (4, "PacGAN4")),
        metrics=_MODES_2D,
        values={"ring8": {1: _mixture((6.3, 0.5), (98.2, 0.1), (0.45, 0.09)),
                          2: _mixture((7.9, 0.1), (95.6, 2.0), (0.07, 0.03)),
                          3: _mixture((7.8, 0.1), (97.7, 0.3), (0.10, 0.02)),
                          4: _mixture((7.8, 0.1), (95.9, 1.4), (0.11, 0.03))},
                "grid25": {1: _mixture((17.3, 0.8), (94.8, 0.7), (0.70, 0.07)),
                           2: _mixture((23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
                           3: _mixture((24.6, 0.4), (94.2, 0.4), (0.06, 0.02)),
                           4: _mixture((24.8, 0.2), (93.6, 0.6), (0.04, 0.01))}},
        runs=10, protocol="400,000 steps; 2,500 samples, a sample of high quality within 3 std of a mode"),
    "pacgan_table2": Source(
        title="PacGAN Table 2: stacked MNIST",
        citation="Lin, Khetan, Fanti, Oh. PacGAN: The power of two samples in generative adversarial networks. "
                 "NeurIPS 2018, Table 2",
        variants=((1, "DCGAN"), (2, "PacDCGAN2"), (3, "PacDCGAN3"), (4, "PacDCGAN4")),
        metrics=(PublishedMetric("stacked_mnist_modes", "modes (of 1000)", decimals=1),
                 PublishedMetric("stacked_mnist_kl", "KL", decimals=2)),
        values={"stacked_mnist": {1: {"stacked_mnist_modes": (78.9, 6.5), "stacked_mnist_kl": (4.50, 0.39)},
                                  2: {"stacked_mnist_modes": (1000.0, 0.0), "stacked_mnist_kl": (0.06, 0.01)}}},
        runs=10, protocol="100,000 steps; 26,000 samples labelled by a pretrained MNIST classifier"),
}

# Preset file name -> source. Table 1's grid trials run the ring preset with trial.dataset = 'grid25' (the sweep),
# so both presets name the one source and the dataset picks the row.
PRESET_SOURCES = {
    "pacgan_ring.gin": "pacgan_table1",
    "pacgan_grid.gin": "pacgan_table1",
    "pacgan_stacked_mnist.gin": "pacgan_table2",
}


def source_of(gin_files: Optional[Sequence[str]]) -> Optional[str]:
    """The source a trial's preset names (the last preset with one wins, as gin's later files do), or None."""
    found = None
    for path in gin_files or ():
        found = PRESET_SOURCES.get(os.path.basename(str(path)), found)
    return found
