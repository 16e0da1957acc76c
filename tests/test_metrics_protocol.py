"""Protocol records: their fields, the canonical id, and finding the record of a value in a row."""
import json

import pytest

from gan_bench.metrics import protocol


def _record(**changes):
    fields = dict(features="inception_pool3", network="fid_inception_v3", weights_sha256="6726825d" + "0" * 56,
                  resize="clean", precision="float32", real_dataset="cifar10", real_split="test",
                  real_count=10000, real_sha256="0123456789abcdef", fake_count=10000, generator_weights="ema")
    fields.update(changes)
    return protocol.make_record(**fields)


def test_record_has_every_field_in_order_and_checks_types():
    record = protocol.make_record(features="raw", fake_count=5)
    assert tuple(record) == protocol.FIELDS
    assert record["network"] is None and record["fake_count"] == 5
    with pytest.raises(ValueError, match="unknown protocol fields"):
        protocol.make_record(resolution=299)
    with pytest.raises(ValueError, match="real_count=True must be int"):
        protocol.make_record(real_count=True)


def test_protocol_id_is_canonical_and_tells_every_field_apart():
    base = _record()
    assert protocol.protocol_id(base) == ("inception_pool3|fid_inception_v3@6726825d00000000|resize=clean|"
                                          "precision=float32|real=cifar10:test:10000:0123456789abcdef|"
                                          "fake=10000|G=ema")
    assert protocol.protocol_id(json.loads(json.dumps(base))) == protocol.protocol_id(base)  # survives JSON
    assert protocol.protocol_id(dict(reversed(list(base.items())))) == protocol.protocol_id(base)  # key order
    variants = [dict(features="inception_logits"), dict(weights_sha256="f" * 64), dict(resize="bilinear"),
                dict(precision="tensorfloat32"), dict(real_dataset="celeb_a"), dict(real_split="train"),
                dict(real_count=5000), dict(real_sha256="f" * 16), dict(fake_count=50000),
                dict(generator_weights="final"), dict(network=None, weights_sha256=None), dict(truncation="0.5")]
    ids = {protocol.protocol_id(_record(**change)) for change in variants}
    assert len(ids) == len(variants) and protocol.protocol_id(base) not in ids
    assert protocol.protocol_id(_record(truncation="0.5")) == protocol.protocol_id(base) + "|truncation=0.5"
    without_field = {k: v for k, v in base.items() if k != "truncation"}  # a record written before the field
    assert protocol.protocol_id(without_field) == protocol.protocol_id(base)
    with pytest.raises(ValueError, match="is a dict"):
        protocol.protocol_id("fid")


def test_protocol_of_finds_the_longest_group_prefix():
    fid, train = _record(), _record(real_split="train")
    row = {"step": 10, "fid": 3.0, "fid_ci_low": 2.5, "fid_infinity": 2.0, "fid_protocol": fid,
           "fid_train": 2.0, "fid_train_protocol": train, "d_loss": 0.7, "kid_mean": 0.1}
    assert protocol.protocol_of(row, "fid") is fid
    assert protocol.protocol_of(row, "fid_ci_low") is fid and protocol.protocol_of(row, "fid_infinity") is fid
    assert protocol.protocol_of(row, "fid_train") is train
    assert protocol.protocol_of(row, "d_loss") is None and protocol.protocol_of(row, "kid_mean") is None
    assert protocol.protocol_of(row, "fid_protocol") is None
