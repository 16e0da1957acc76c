"""Protocol records: the conditions a sample-quality score was computed under.

FID, IS, KID, PRD and PRDC values are only comparable when they were computed the same way: the same network
and weights, the same resize and arithmetic precision, the same reference images and as many of them, as
many generated images, from the same weights of G. Every such value in `metrics.jsonl`, `eval.json` and
`gan-bench metrics` output therefore has a record beside it, under the key `<group>_protocol`, where
`<group>` is the prefix of the values it describes:

    "fid": 31.2, "fid_ci_low": 30.1, "fid_ci_high": 32.5, "fid_protocol": {...}
    "kid_mean": 0.021, "kid_std": 0.002, "kid_protocol": {...}
    "fid_train": 29.8, "fid_train_protocol": {...}

A record is a flat dict with exactly the keys `FIELDS` (values are strings, integers or null):

    features           "inception_pool3" | "inception_logits" | "raw" (2-D points: the coordinates)
    network            "fid_inception_v3" (pytorch-fid's FID Inception) | null (raw features)
    weights_sha256     SHA-256 of the network's weights file | null
    resize             "bilinear" | "tf1" | "clean" (gan_bench.metrics.inception) | null
    precision          "float32" | "tensorfloat32" | "bfloat16" (matmul precision of the network) | null
    real_dataset       dataset name (or the --real path of `gan-bench metrics`) | null (IS uses no real images)
    real_split         "train", "test", ...; two splits joined by "+" for train-vs-held-out values | null
    real_count         number of real images per split | null
    real_sha256        first 16 hex digits of the SHA-256 of the real images as evaluated | null
    fake_count         number of generated images
    generator_weights  "final" | "ema" (which weights of G made the images) | null (images from disk)
    truncation         the truncation trick's threshold as text (e.g. "0.5": latent values beyond it redrawn,
                       Brock et al. 2019) | null (latents from the prior, or images from disk). A truncated
                       FID is a different number from the untruncated one of the same G, never comparable.

`protocol_of(row, value_key)` finds the record of a value; `protocol_id(record)` is its canonical string,
equal for two records exactly when they are equal, meant for grouping (report tables) and display.
`expects_record(value_key)` says whether a value is one that gets a record (results written before records
were kept lack it: reports call those "protocol not recorded").
"""
from typing import Any, Dict, Optional

SUFFIX = "_protocol"
FIELDS = ("features", "network", "weights_sha256", "resize", "precision", "real_dataset", "real_split",
          "real_count", "real_sha256", "fake_count", "generator_weights", "truncation")
_INT_FIELDS = ("real_count", "fake_count")
# First word of every value key the evaluations write with a record: fid*, is_*, kid_*, prd_*, prdc_*,
# memorization_* (gan_bench.metrics.evaluate).
RECORDED_PREFIXES = ("fid", "is", "kid", "prd", "prdc", "memorization", "intra")


def make_record(**fields: Any) -> Dict[str, Any]:
    """A protocol record with every key of `FIELDS` (missing ones null); unknown keys or types are errors."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown protocol fields {unknown}; expected {FIELDS}")
    record = {name: fields.get(name) for name in FIELDS}
    for name, value in record.items():
        expected = int if name in _INT_FIELDS else str
        if value is not None and (not isinstance(value, expected) or isinstance(value, bool)):
            raise ValueError(f"protocol field {name}={value!r} must be {expected.__name__} or None")
    return record


def protocol_key(group: str) -> str:
    """The row key of the record that describes the values named `group`, `group_*`: `<group>_protocol`."""
    return group + SUFFIX


def protocol_of(row: Dict[str, Any], value_key: str) -> Optional[Dict[str, Any]]:
    """The record of `row[value_key]`: `row[<g>_protocol]` for the longest `g` equal to `value_key` or a
    prefix of it ending before an underscore (`fid_ci_low` -> `fid_protocol`, `fid_train` -> `fid_train_protocol`
    when present); None when the value has none (losses, mode counts, ...)."""
    if value_key.endswith(SUFFIX):
        return None
    parts = value_key.split("_")
    for end in range(len(parts), 0, -1):
        record = row.get(protocol_key("_".join(parts[:end])))
        if isinstance(record, dict):
            return record
    return None


def expects_record(value_key: str) -> bool:
    """Whether the value `value_key` is one that evaluations write with a protocol record (FID, IS, KID, PRD,
    PRDC and their derived values); False for losses, mode counts, MS-SSIM and the records themselves."""
    return not value_key.endswith(SUFFIX) and value_key.split("_")[0] in RECORDED_PREFIXES


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def protocol_id(record: Dict[str, Any]) -> str:
    """Canonical one-line form of a record, e.g. `inception_pool3|fid_inception_v3@6726825d0af5f729|
    resize=clean|precision=float32|real=cifar10:test:10000:<real_sha256>|fake=10000|G=ema` (one line).

    Two records give the same string exactly when they agree on every field (weights hash shortened to 16 hex
    digits); a record missing a field reads as null there. Report code groups scores by it. `|truncation=..`
    is appended only for truncated latents, so untruncated records keep the id records had before the field.
    """
    if not isinstance(record, dict):
        raise ValueError(f"a protocol record is a dict, got {type(record).__name__}")
    r = {name: record.get(name) for name in FIELDS}
    weights = None if r["weights_sha256"] is None else str(r["weights_sha256"])[:16]
    network = _text(r["network"]) + ("" if weights is None else f"@{weights}")
    real = ":".join(_text(r[k]) for k in ("real_dataset", "real_split", "real_count", "real_sha256"))
    return "|".join([_text(r["features"]), network, f"resize={_text(r['resize'])}",
                     f"precision={_text(r['precision'])}", f"real={real}", f"fake={_text(r['fake_count'])}",
                     f"G={_text(r['generator_weights'])}"]
                    + ([] if r["truncation"] is None else [f"truncation={r['truncation']}"]))
