"""CSV time columns: recognised, left out of the features, described in one line; bad ones refused."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.runtime.errors import InputError
from edgernn.train.config import DataConfig
from edgernn.train.readers import read_table
from edgernn.train.timeindex import parse_time


@pytest.mark.parametrize(
    "cell,want",
    [
        ("1958-03-29", "1958-03-29T00:00:00"),
        ("2010-01-01T13:00", "2010-01-01T13:00:00"),
        ("2010-01-01 13:05:09", "2010-01-01T13:05:09"),
        ("1959-03", "1959-03-01T00:00:00"),
        ("1959-Q1", "1959-01-01T00:00:00"),
        ("1959Q4", "1959-10-01T00:00:00"),
    ],
)
def test_times_parse(cell, want):
    assert parse_time(cell) == np.datetime64(want)


@pytest.mark.parametrize("cell", ["2020-13-01", "2020-01-0000", "316.1", "abc", "1959-Q5", ""])
def test_non_times_do_not_parse(cell):
    assert parse_time(cell) is None


def _csv(tmp_path, header, rows):
    path = tmp_path / "t.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize(
    "times,step,period",
    [
        ([f"1959-Q{q}" for q in (1, 2, 3, 4)] * 1, "quarterly", 4),
        (["2001-01", "2001-02", "2001-03", "2001-04"], "monthly", 12),
        (["2001-01-06", "2001-01-13", "2001-01-20", "2001-01-27"], "weekly", 52),
        (["2001-01-01T00:00", "2001-01-01T01:00", "2001-01-01T02:00", "2001-01-01T03:00"], "hourly", 24),
    ],
)
def test_a_column_of_times_is_the_index_not_a_feature(tmp_path, times, step, period):
    path = _csv(tmp_path, "a,when,b", [f"{i},{t},{2 * i}" for i, t in enumerate(times)])
    table = read_table(path)
    assert table.names == ("a", "b") and table.values.tolist() == [[i, 2 * i] for i in range(4)]
    assert (table.time.column, table.time.step, table.time.period) == ("when", step, period)
    assert f"time column 'when': 4 {step} rows" in table.time.describe(4)


def test_integer_years_in_a_year_column_are_the_index(tmp_path):
    table = read_table(_csv(tmp_path, "year,spots", ["1700,5", "1701,11", "1702,16"]))
    assert table.names == ("spots",) and (table.time.step, table.time.period) == ("yearly", 1)
    # asked for by name, the same column is a feature like any other
    assert read_table(tmp_path / "t.csv", ("year", "spots")).time is None


def test_time_column_flag_names_it_and_refuses_non_times(tmp_path):
    path = _csv(tmp_path, "a,d", ["1,2001-01-01", "2,2001-01-02", "3,oops"])
    with pytest.raises(InputError, match=r"line 4, column 'd': 'oops' is not a time \(--time-column expects"):
        read_table(path, (), "d")
    path = _csv(tmp_path, "d,a", ["2001-01-02,1", "2001-01-01,2"])
    with pytest.raises(
        InputError, match=r"line 3, time column 'd': '2001-01-01' does not come after '2001-01-02'; sort"
    ):
        read_table(path)


def test_a_text_column_is_named_with_a_hint_to_use_columns(tmp_path):
    path = _csv(tmp_path, "date,station,temp,load,city", ["1958-03-29,abc,1,2,x", "1958-04-05,abd,3,4,y"])
    with pytest.raises(InputError) as err:
        read_table(path)
    message = str(err.value)
    assert "line 2, column 'station': 'abc' is not a number; also not numbers: 'city'" in message
    assert "with --columns (numeric columns: temp, load)" in message and "\n" not in message
    assert read_table(path, ("temp", "load")).time.column == "date"


def test_units_reach_the_data_description(tmp_path):
    from edgernn.train.data import load_dataset

    rows = [f"{np.datetime64('2001-01-01') + i},{100 + i + (i % 3)}" for i in range(60)]
    info = load_dataset(DataConfig(path=str(_csv(tmp_path, "day,co2", rows)), window=4, units="ppm")).info
    assert info.units == "ppm"


def test_series_notes_say_what_was_decided(tmp_path):
    from edgernn.train.data import load_dataset

    rng = np.random.default_rng(0)
    walk = 100 + np.cumsum(rng.normal(0.5, 1, 200))
    days = np.datetime64("2001-01-01") + np.arange(200)
    path = _csv(tmp_path, "day,v", [f"{d},{v:.4f}" for d, v in zip(days, walk, strict=True)])
    info = load_dataset(DataConfig(path=str(path), window=8)).info
    assert info.feature_names == ("v",) and info.series.time_column == "day"
    assert info.notes[0].startswith("time column 'day': 200 daily rows, 2001-01-01 .. 2001-07-19; season 7")
    assert info.notes[1].startswith("forecast: first difference: ADF t=")
    assert info.series.difference == "first" and info.series.warmup == 1


@pytest.mark.parametrize(
    "start,step,rows,want",
    [
        ("2001-03", "M", 48, [("year", 12.0, (31 + 28) / 365)]),  # months count, not seconds
        ("2001-01-06", "W", 200, [("year", 365.2425 / 7, 5 / 365)]),
        ("2001-01-01T06", "h", 24 * 30, [("day", 24.0, 0.25), ("week", 168.0, (0 + 0.25) / 7)]),  # a Monday
        ("2001", "Y", 40, []),  # a yearly step fits no calendar cycle twice
    ],
)
def test_calendar_cycles_and_their_phase_at_row_0(start, step, rows, want):
    from edgernn.train.timeindex import cycles, index_of

    times = (np.datetime64(start) + np.arange(rows).astype(f"timedelta64[{step}]")).astype("datetime64[s]")
    found = cycles(index_of("t", times), times, train_rows=int(rows * 0.7))
    assert [name for name, _, _ in found] == [name for name, _, _ in want]
    for (_, steps, phase), (_, want_steps, want_phase) in zip(found, want, strict=True):
        assert steps == pytest.approx(want_steps) and phase == pytest.approx(want_phase)


@pytest.mark.parametrize(
    "cell,want",
    [
        ("Jan 1980", "1980-01-01T00:00:00"),
        ("1980 Jan", "1980-01-01T00:00:00"),
        ("January 1980", "1980-01-01T00:00:00"),
        ("Sep-1980", "1980-09-01T00:00:00"),
        ("01/1980", "1980-01-01T00:00:00"),
        ("1980M11", "1980-11-01T00:00:00"),
        ("Q3 1980", "1980-07-01T00:00:00"),
        ("2010-01-01T13:00+02:00", "2010-01-01T11:00:00"),
        ("2010-01-01T13:00:00Z", "2010-01-01T13:00:00"),
    ],
)
def test_more_date_forms_parse_to_utc(cell, want):
    assert parse_time(cell) == np.datetime64(want)


def test_an_offset_series_across_a_dst_fall_back_is_in_order(tmp_path):
    # Europe/Berlin, 2021-10-31: 02:00+02:00, 02:00+01:00 (the local hour repeats, UTC does not)
    cells = ["2021-10-31T01:00:00+02:00", "2021-10-31T02:00:00+02:00", "2021-10-31T02:00:00+01:00"]
    cells += [f"2021-10-31T{h:02d}:00:00+01:00" for h in range(3, 24)]
    path = _csv(tmp_path, "when,v", [f"{c},{i}" for i, c in enumerate(cells)])
    table = read_table(path)
    assert table.time.step == "hourly" and table.time.gaps == 0 and table.time.first == "2021-10-30T23:00:00"


def test_a_column_that_is_nearly_dates_names_the_cell(tmp_path):
    rows = [f"{m} 1980,{i}" for i, m in enumerate(["Jan", "Feb", "Mar", "Aprl", "May"])]
    path = _csv(tmp_path, "month,v", rows)
    with pytest.raises(
        InputError, match=r"line 5, column 'month': 'Aprl 1980' is not a time like 'Jan 1980'"
    ):
        read_table(path)
