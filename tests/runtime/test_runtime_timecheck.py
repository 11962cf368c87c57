"""`run` reads the time column of a dated bundle: order, spacing, gaps and repeats are checked against
the manifest's series record; outputs get their forecast time, warm-up and the calendar row."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.runtime.errors import InputError
from edgernn.runtime.records import SeriesRecord
from edgernn.runtime.timecheck import check_csv

MONTHLY = SeriesRecord(
    time_column="month", first="1990-01-01", last="1999-12-01", step="monthly", step_seconds=2629746.0,
    period=12, difference="season", warmup=12, horizon=1, window=24, counter="step0",
)  # fmt: skip


def _csv(tmp_path, months, name="month"):
    path = tmp_path / "in.csv"
    path.write_text(f"{name},sales\n" + "\n".join(f"{m},{i}.5" for i, m in enumerate(months)) + "\n")
    return path


def _months(start, count):
    return [str(np.datetime64(start, "M") + k) for k in range(count)]


def test_dated_rows_give_forecast_times_warmup_and_the_calendar_row(tmp_path):
    got = check_csv(_csv(tmp_path, _months("2001-03", 40)), MONTHLY, allow_gaps=False)
    assert got.start_row == 12 * 11 + 2  # 1990-01 .. 2001-03
    assert got.forecast[:2] == ("2001-04-01", "2001-05-01") and got.warmup == 36
    assert got.notes == (
        "the first 36 outputs are warm-up (warmup=1: 24 rows of context + 12 of differencing history that a "
        "cold start lacks; the model was scored only after them)",
    )
    named = check_csv(_csv(tmp_path, ["Mar 2001", "April 2001", "2001 May"]), MONTHLY, False)
    assert named.start_row == 134 and named.forecast == ("2001-04-01", "2001-05-01", "2001-06-01")


@pytest.mark.parametrize(
    "months,message",
    [
        (_months("2001-03", 30)[::-1], r"line 3, time column 'month': '2003-07' comes before '2003-08'; the rows must be oldest first"),
        (_months("2001-03", 10) + ["2001-12"] + _months("2002-01", 10), r"line 12, time column 'month': repeats '2001-12'"),
        (_months("2001-03", 10) + _months("2002-09", 10), r"1 gap \(8 missing monthly rows; first at line 12: '2001-12' -> '2002-09'\); fill them, or pass --allow-gaps"),
        ([str(np.datetime64("2001-03-01") + k) for k in range(40)], r"rows are 1 days apart, the bundle's are monthly \(30.4 days\)"),
        (_months("1985-01", 5), r"line 2: '1985-01' falls before the training series"),
    ],
)  # fmt: skip
def test_rows_out_of_order_repeated_gapped_respaced_or_early_are_refused_in_one_line(
    tmp_path, months, message
):
    with pytest.raises(InputError, match=message) as err:
        check_csv(_csv(tmp_path, months), MONTHLY, allow_gaps=False)
    assert "\n" not in str(err.value)


def test_allow_gaps_runs_with_a_note(tmp_path):
    got = check_csv(_csv(tmp_path, _months("2001-03", 10) + _months("2002-09", 10)), MONTHLY, allow_gaps=True)
    assert got.notes[0].startswith("1 gap (8 missing monthly rows; first at line 12") and got.start_row == 134


def test_a_missing_time_column_is_refused(tmp_path):
    with pytest.raises(
        InputError, match=r"missing the time column 'month'; this bundle was trained on dated rows"
    ):
        check_csv(_csv(tmp_path, _months("2001-03", 5), name="date"), MONTHLY, allow_gaps=False)


def test_business_days_skip_weekends_and_hourly_offsets_cross_dst(tmp_path):
    days = SeriesRecord(
        time_column="day",
        first="2020-01-06",
        step="daily",
        step_seconds=86400.0,
        business_days=True,
        window=5,
    )
    weekdays = [
        d for d in np.arange(np.datetime64("2020-01-06"), np.datetime64("2020-02-01")) if np.is_busday(d)
    ]
    path = tmp_path / "d.csv"
    path.write_text("day,v\n" + "\n".join(f"{d},1" for d in weekdays) + "\n")
    got = check_csv(path, days, allow_gaps=False)
    assert got.start_row == 0 and got.forecast[4] == "2020-01-13"  # Friday's next business day: Monday
    hours = SeriesRecord(
        time_column="t", first="2021-10-30T00:00:00", step="hourly", step_seconds=3600.0, window=1
    )
    cells = [
        "2021-10-31T01:00:00+02:00",
        "2021-10-31T02:00:00+02:00",
        "2021-10-31T02:00:00+01:00",
        "2021-10-31T03:00:00+01:00",
    ]
    path.write_text("t,v\n" + "\n".join(f"{c},1" for c in cells) + "\n")
    got = check_csv(path, hours, allow_gaps=False)
    assert got.start_row == 23 and got.forecast[-1] == "2021-10-31T03:00:00"
