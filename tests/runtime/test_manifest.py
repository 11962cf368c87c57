"""Manifest parsing: round trip, and errors that name the bad field."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from bundles import lstm_manifest

from edgernn.runtime.errors import BundleError
from edgernn.runtime.manifest import SCHEMA_VERSION, Manifest, StateSpec, TensorSpec


def test_round_trip_through_json_is_exact():
    manifest = lstm_manifest()
    data = json.loads(json.dumps(manifest.to_dict()))
    again = Manifest.from_dict(data)
    assert again == manifest
    assert again.state[0] == StateSpec("h0", "hn", (2, "batch", 8), "float32")
    assert again.input.mean == (0.0, 1.0, 2.0, 3.0)
    assert again.streamable is True
    assert lstm_manifest(bidirectional=True).streamable is False


def _data(**changes):
    data = json.loads(json.dumps(lstm_manifest().to_dict()))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for p in parents:
            node = node[p]
        if value is KeyError:
            del node[leaf]
        else:
            node[leaf] = value
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": KeyError}, "'name': required field is missing"),
        ({"input__features": "four"}, "'input.features': expected int, got 'four' (str)"),
        ({"layers": True}, "'layers': expected int, got True (bool)"),
        ({"topology": "many_to_few"}, "'topology': expected one of many_to_one, many_to_many, one_to_many"),
        ({"cell": "transformer"}, "'cell': expected one of rnn, lstm, gru, got 'transformer'"),
        (
            {"schema_version": SCHEMA_VERSION + 1},
            f"'schema_version': expected {SCHEMA_VERSION}, got {SCHEMA_VERSION + 1}",
        ),
        ({"colour": "red"}, "'colour': unknown field"),
        ({"input__lenghts": "lengths"}, "'input.lenghts': unknown field"),
        ({"state": {"h0": "hn"}}, "'state': expected a list, got"),
        ({"input__mean": [0.0, "x", 1.0, 2.0]}, "'input.mean[1]': expected float, got 'x' (str)"),
    ],
)
def test_bad_field_is_named(changes, message):
    with pytest.raises(BundleError) as err:
        Manifest.from_dict(_data(**changes))
    assert message in str(err.value)


def test_non_object_is_refused():
    with pytest.raises(BundleError, match="expected an object, got"):
        Manifest.from_dict([1, 2, 3])


def test_ints_are_accepted_as_floats():
    data = _data(input__mean=[0, 1, 2, 3])
    assert Manifest.from_dict(data).input.mean == (0.0, 1.0, 2.0, 3.0)


def test_min_length_defaults_to_one_and_must_be_positive():
    old = _data(input__min_length=KeyError)  # written before the field existed
    assert Manifest.from_dict(old).input.min_length == 1
    assert Manifest.from_dict(_data(input__min_length=3)).input.min_length == 3
    with pytest.raises(BundleError, match=r"manifest field 'input.min_length': expected >= 1, got 0"):
        Manifest.from_dict(_data(input__min_length=0))


def test_further_named_inputs_and_outputs_round_trip_and_are_checked():
    """The general contract's named tensors: parsed back exactly; a taken name, an unknown dtype or
    a value range on a float input names the field."""
    memory = TensorSpec("memory", ("memory_time", "batch", 8), module="forward(memory=...)")
    ids = TensorSpec("x.cat", ("batch", "time"), "int64", module="x['cat']", low=0, high=11)
    manifest = dataclasses.replace(
        lstm_manifest(), inputs=(memory, ids), outputs=(TensorSpec("attn", ("batch", "time")),)
    )
    again = Manifest.from_dict(json.loads(json.dumps(manifest.to_dict())))
    assert again == manifest and again.inputs[1].timed and not again.inputs[0].timed
    assert lstm_manifest().inputs == () and Manifest.from_dict(_data()).outputs == ()  # older bundles
    cases = [
        ({"name": "h0", "shape": [1]}, "'inputs[0].name': expected a printable name not used by another"),
        (
            {"name": "m", "shape": [1], "dtype": "float64"},
            "'inputs[0].dtype': expected one of float32, int64",
        ),
        ({"name": "m", "shape": ["batch"], "low": 0}, "'inputs[0].low': a value range is for integer inputs"),
        ({"name": "m", "shape": [0]}, "'inputs[0].shape': expected an int in [1, "),
    ]
    for spec, message in cases:
        with pytest.raises(BundleError, match=re.escape(message)):
            Manifest.from_dict({**_data(), "inputs": [spec]})
