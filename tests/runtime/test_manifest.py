"""Manifest parsing: round trip, and errors that name the bad field."""

from __future__ import annotations

import json

import pytest
from bundles import lstm_manifest

from edgernn.runtime.errors import BundleError
from edgernn.runtime.manifest import SCHEMA_VERSION, Manifest, StateSpec


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
