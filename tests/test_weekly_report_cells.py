"""The detail sheets' fast paths give exactly what the plain per-row pandas code gives, cell for cell."""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlsxwriter

from ops_center.read import weekly_report as wr
from ops_center.read.xlsx_rows import fill_sheets, sheet_rows

STAMPS = pd.Series(pd.to_datetime([
    "2026-11-16 03:04:59.999", None, "1899-12-31 23:59:00", "2026-03-08 06:59", "2026-11-01 05:30",
    "2026-11-01 06:30", "2026-11-16 03:04:00",
], format="ISO8601"), dtype="datetime64[us]")


def _per_row_local(series: pd.Series, tz: str) -> pd.Series:
    """The straightforward definition: each row converted on its own, to the minute, as a naive local time."""
    return pd.Series([None if pd.isna(v) else v.tz_localize("UTC").tz_convert(tz).tz_localize(None).floor("min")
                      for v in series], dtype="datetime64[us]", index=series.index)


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York", "Asia/Kolkata", "UTC"])
@pytest.mark.parametrize("stamps", [STAMPS, STAMPS.iloc[:0], STAMPS.iloc[1:2]], ids=["mixed", "empty", "only-nat"])
def test_local_times_equal_a_per_row_conversion(tz, stamps):
    # DST changes (New York, March and November), a pre-1900 local-mean-time offset, NaT, repeats.
    pd.testing.assert_series_equal(wr._local(stamps, tz), _per_row_local(stamps, tz), check_exact=True)


def test_date_columns_are_real_dates_with_the_given_style():
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("明细")
    style = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    ws.write_row(0, 0, ["时间"], style)
    wb.close()
    df = pd.DataFrame({"时间": pd.Series(pd.to_datetime(["2026-11-24 10:05", None]), dtype="datetime64[us]")})
    sheet = openpyxl.load_workbook(io.BytesIO(fill_sheets(buf.getvalue(), {0: df}, styles={"时间": 1})))["明细"]
    cell = sheet["A2"]
    assert cell.value == datetime(2026, 11, 24, 10, 5)  # noqa: DTZ001 - xlsx dates are naive local
    assert cell.number_format == "yyyy-mm-dd hh:mm"
    assert sheet["A3"].value is None


def test_names_are_mapped_once_per_value_with_the_same_result():
    codes = pd.Series(["traffic", None, "fire_safety", "traffic", "unknown"], dtype="str")
    name = lambda d: "?" if not isinstance(d, str) else wr.DOMAIN_NAMES.get(d, d)  # noqa: E731
    pd.testing.assert_series_equal(wr._per_value(codes, name), codes.map(name), check_exact=True)


def _read_back(df: pd.DataFrame) -> list[list]:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.add_worksheet("明细").write_row(0, 0, list(df.columns))
    wb.close()
    ws = openpyxl.load_workbook(io.BytesIO(fill_sheets(buf.getvalue(), {0: df})))["明细"]
    return [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]


def test_every_character_xml_forbids_is_dropped_and_markup_escaped():
    df = pd.DataFrame({"t": pd.Series(["a\x1fb", "c\ufffed\uffff", None, "\ufffd：<&>", "tab\there"], dtype="str")})
    assert _read_back(df) == [["ab"], ["cd"], [None], ["\ufffd：<&>"], ["tab\there"]]


def test_integer_columns_with_gaps_and_booleans():
    df = pd.DataFrame({
        "n": pd.array([7, None, -3], dtype="Int64"),
        "big": np.array([9_876_543_210, 0, 1], dtype=np.int64),
        "flag": [True, False, True],
    })
    assert _read_back(df) == [[7, 9_876_543_210, "是"], [None, 0, "否"], [-3, 1, "是"]]
    assert sheet_rows(df, first_row=5).startswith(b'<row r="5"><c r="A5"><v>7</v></c>')
