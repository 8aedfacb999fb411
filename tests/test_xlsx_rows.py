"""The column-wise sheet writer: what openpyxl reads back equals the frame, empty cells keep their column."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import xlsxwriter

from ops_center.read.xlsx_rows import fill_sheets, sheet_rows


def _workbook_with_header(columns: list[str]) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.add_worksheet("概览").write(0, 0, "x")
    wb.add_worksheet("明细").write_row(0, 0, columns)
    wb.close()
    return buf.getvalue()


def test_rows_read_back_exactly_with_gaps_markup_and_control_characters():
    df = pd.DataFrame({
        "编号": [1, 2, 3],
        "文本": ["<script>alert(1)</script> & 占道", None, "bad\x01char"],
        "数值": [1.5, None, 7.0],
        "空列": [None, "仅第二行", None],
    })
    data = fill_sheets(_workbook_with_header(list(df.columns)), {1: df})
    ws = openpyxl.load_workbook(io.BytesIO(data))["明细"]
    assert [list(r) for r in ws.iter_rows(values_only=True)] == [
        ["编号", "文本", "数值", "空列"],
        [1, "<script>alert(1)</script> & 占道", 1.5, None],
        [2, None, None, "仅第二行"],
        [3, "badchar", 7, None],
    ]
    assert ws.dimensions == "A1:D4"


def test_an_empty_frame_leaves_the_header_alone():
    data = fill_sheets(_workbook_with_header(["a"]), {1: pd.DataFrame({"a": []})})
    assert [list(r) for r in openpyxl.load_workbook(io.BytesIO(data))["明细"].iter_rows(values_only=True)] == [["a"]]
    assert sheet_rows(pd.DataFrame({"a": []})) == b""
