"""Fill a large worksheet of an xlsx file column-wise, since cell-by-cell writers take seconds per 100 k rows."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0, even escaped
_SHEET_DATA = re.compile(rb"<sheetData>.*?</sheetData>|<sheetData/>", re.S)
_DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')
_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def _column_letters(n: int) -> str:
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous Arrow string array, so the element-wise joins see a single chunk."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    return values.cast(pa.string())


def _utf8(values: pa.Array) -> bytes:
    """The array's UTF-8 bytes back to back (a superset after slicing), for memchr-speed checks."""
    data = values.buffers()[2]
    return b"" if data is None else data.to_pybytes()


def _has_bad_xml(values: pa.Array, blob: bytes) -> bool:
    """Whether any value holds a character XML 1.0 forbids; a look at the raw bytes rules most columns out at once."""
    octets = np.frombuffer(blob, np.uint8)
    lead = np.flatnonzero(octets[:-2] == 0xEF)  # U+FFFE / U+FFFF are EF BF BE / EF BF BF
    control = bool(blob) and int(octets.min()) < 0x20
    if control or bool(((octets[lead + 1] == 0xBF) & (octets[lead + 2] >= 0xBE)).any()):
        return pc.any(pc.match_substring_regex(values, _BAD_XML.pattern)).as_py() is True
    return False


def _number_values(series: pd.Series) -> pa.Array:
    """Numbers as <v> text, null where missing or not finite; integers are cast by Arrow, not per cell in Python."""
    if pd.api.types.is_integer_dtype(series):
        return _as_strings(pa.array(series, from_pandas=True))
    numbers = series.astype("float64")
    finite = numbers.notna() & np.isfinite(numbers.fillna(0))
    ints = finite & (numbers == numbers.round())
    text = numbers.map(repr).where(~ints, numbers.where(ints, 0).astype("int64").astype(str))
    return pc.if_else(pa.array(finite.to_numpy()), pa.array(text.where(finite, "").astype(str).tolist()), None)


def _text_values(series: pd.Series) -> tuple[pa.Array, pa.Array]:
    """(escaped inline text, which rows are empty or missing): Arrow kernels run only where a column needs them."""
    text = pc.fill_null(_as_strings(pa.array(series.astype("string").array)), "")
    missing, blob = pc.equal(text, ""), _utf8(text)
    if _has_bad_xml(text, blob):
        text = pc.replace_substring_regex(text, _BAD_XML.pattern, "")
    for plain, escaped in _ESCAPES:
        if plain.encode() in blob:
            text = pc.replace_substring(text, plain, escaped)
    return text, missing


_EXCEL_EPOCH = np.datetime64("1899-12-30T00:00:00", "us")
_US_PER_DAY = 86_400_000_000


def _serial_values(series: pd.Series) -> pa.Array:
    """Naive datetimes as Excel serial day numbers (a real date cell with a date style), null for NaT."""
    stamps = series.to_numpy(dtype="datetime64[us]")
    days = (stamps - _EXCEL_EPOCH).astype(np.int64) / _US_PER_DAY
    text = pd.Series(np.round(days, 8)).map(repr)
    return pc.if_else(pa.array(~np.isnat(stamps)), pa.array(text.tolist(), pa.string()), None)


def _cell_pieces(series: pd.Series, letter: str, numbers: pa.Array, style: int | None = None) -> list:
    """One column's cells as pieces of the row join: numbers as <v>, everything else as inline text.

    Every cell carries its A1 reference (column letter + row number): with empty cells left out, readers need
    it to keep columns apart. A column with empty cells becomes one array with '' there; a full column stays
    as pieces, so the row join builds its cells without an intermediate array.
    """
    if pd.api.types.is_bool_dtype(series):
        series = series.map({True: "是", False: "否"})
    if pd.api.types.is_datetime64_any_dtype(series):
        value = _serial_values(series)
        styled = f'" s="{style}"><v>' if style is not None else '"><v>'
        parts, missing = [f'<c r="{letter}', numbers, styled, value, "</v></c>"], pc.is_null(value)
    elif pd.api.types.is_numeric_dtype(series):
        value = _number_values(series)
        parts, missing = [f'<c r="{letter}', numbers, '"><v>', value, "</v></c>"], pc.is_null(value)
    else:
        text, missing = _text_values(series)
        parts = [f'<c r="{letter}', numbers, '" t="inlineStr"><is><t>', text, "</t></is></c>"]
    if not pc.any(missing).as_py():
        return parts
    return [pc.if_else(missing, "", pc.fill_null(pc.binary_join_element_wise(*parts, ""), ""))]


def _merged(pieces: list) -> list:
    """Adjacent literal pieces as one, so the join has fewer arguments."""
    out: list = []
    for piece in pieces:
        if isinstance(piece, str) and out and isinstance(out[-1], str):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def _rows_buffer(df: pd.DataFrame, first_row: int, before: str = "", after: str = "",
                 styles: dict[str, int] | None = None) -> pa.Buffer:
    """`before`, every `<row>` of df, `after`, back to back: one Arrow join over all columns, no copy after it.

    `before` and `after` ride on the first and last row, so a whole worksheet comes out as one buffer.
    """
    n = len(df)
    numbers = pc.cast(pa.array(np.arange(first_row, first_row + n, dtype=np.int64)), pa.string())
    pieces = [pa.array([before, *[""] * (n - 1)]), '<row r="', numbers, '">']
    for i, column in enumerate(df.columns, start=1):
        pieces += _cell_pieces(df[column], _column_letters(i), numbers, (styles or {}).get(column))
    rows = pc.binary_join_element_wise(*_merged([*pieces, "</row>", pa.array([*[""] * (n - 1), after])]), "")
    width = np.int64 if pa.types.is_large_string(rows.type) else np.int32
    offsets = np.frombuffer(rows.buffers()[1], dtype=width)[rows.offset:rows.offset + len(rows) + 1]
    return rows.buffers()[2][int(offsets[0]):int(offsets[-1])]


def sheet_rows(df: pd.DataFrame, first_row: int = 2) -> bytes:
    """`<row>` elements for every row of df, numbered from `first_row` (row 1 is the header)."""
    if df.empty:
        return b""
    return _rows_buffer(df, first_row).to_pybytes()


def fill_sheets(xlsx: bytes, frames: dict[int, pd.DataFrame], first_row: int = 2,
                styles: dict[str, int] | None = None) -> bytes:
    """Append the rows of frames[i], from row `first_row` (below what is written), to worksheet i+1.

    `styles` maps a column to a cell style (xf) index the workbook already defines: a date column's format.
    """
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            data: bytes | memoryview = src.read(info.filename)
            for index, df in frames.items():
                if info.filename == f"xl/worksheets/sheet{index + 1}.xml" and len(df):
                    data = _with_rows(data, df, first_row, styles)
            dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return out.getvalue()


def _with_rows(sheet_xml: bytes | memoryview, df: pd.DataFrame, first_row: int = 2,
               styles: dict[str, int] | None = None) -> memoryview:
    """The worksheet with df's rows after its header, built in one buffer since the rows run to tens of MB."""
    match = _SHEET_DATA.search(sheet_xml)
    if match is None:
        raise ValueError("worksheet has no sheetData")
    existing = match.group(0)
    header = existing[len(b"<sheetData>"):-len(b"</sheetData>")] if existing != b"<sheetData/>" else b""
    ref = f'<dimension ref="A1:{_column_letters(len(df.columns))}{len(df) + first_row - 1}"/>'.encode()
    head = _DIMENSION.sub(ref, sheet_xml[:match.start()], count=1) + b"<sheetData>" + header
    tail = b"</sheetData>" + sheet_xml[match.end():]
    return memoryview(_rows_buffer(df, first_row, head.decode(), tail.decode(), styles))
