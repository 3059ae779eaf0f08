"""Report downloads: XLSX (openpyxl; one sheet per level, Vietnamese headers, number
formats, each rate's formula in a comment and on a formulas sheet) and CSV (UTF-8 with a
BOM so Excel reads the diacritics, one row per unit with its level).

Both take the document of :func:`web.reports.report_document`; the web node and the
``govpulse report`` command write the same bytes for the same reports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from domain.calendar import LOCAL_TZ
from web.reports import LEVELS

INTEGER = "#,##0"
PERCENT = "0.0%"
DAYS = "0.0"
INSTANT = "dd/mm/yyyy hh:mm"

Getter = Callable[[Mapping[str, Any]], Any]


def _figure(name: str) -> Getter:
    return lambda row: row["figures"].get(name)


def _local(at: float | None) -> datetime | None:
    # Excel has no time zones: local wall time without tzinfo.
    return datetime.fromtimestamp(at, LOCAL_TZ).replace(tzinfo=None) if at is not None else None


def _placement(key: str) -> Getter:
    return lambda row: (row["classification"] or {}).get(key)


#: (header, number format, value getter, formula name or None)
COLUMNS: Sequence[tuple[str, str | None, Getter, str | None]] = (
    ("Mã đơn vị", None, lambda row: row["unit"], None),
    ("Tên đơn vị", None, lambda row: row["name_vi"], None),
    ("Tiếp nhận trong kỳ", INTEGER, _figure("received"), None),
    ("Tồn kỳ trước chuyển sang", INTEGER, _figure("carried_over"), None),
    ("Đã giải quyết", INTEGER, _figure("resolved"), None),
    ("Đúng hạn hoặc trước hạn", INTEGER, _figure("on_time"), None),
    ("Giải quyết trễ hạn", INTEGER, _figure("late"), None),
    ("Trễ hạn còn tồn cuối kỳ", INTEGER, _figure("late_open"), None),
    ("Tỉ lệ đúng hạn (QĐ 766)", PERCENT, _figure("on_time_rate"), "on_time_rate"),
    ("Tỉ lệ trễ hạn (QĐ 766)", PERCENT, _figure("late_rate"), "late_rate"),
    ("Thời gian xử lý trung bình (ngày)", DAYS, _figure("avg_days"), "avg_days"),
    ("Thời gian xử lý P90 (ngày)", DAYS, _figure("p90_days"), "p90_days"),
    ("Chuyển đến", INTEGER, _figure("transferred_in"), None),
    ("Chuyển đi", INTEGER, _figure("transferred_out"), None),
    ("Mở lại", INTEGER, _figure("reopened"), None),
    ("Hạng", INTEGER, lambda row: row["rank"], None),
    ("Thay đổi hạng so với kỳ trước", "+0;-0;0", lambda row: row["change"], None),
    ("Xếp loại", None, _placement("name_vi"), None),
    ("Căn cứ xếp loại", None, _placement("rule_vi"), None),
    ("Lần sửa số liệu", INTEGER, lambda row: row["revision"], None),
    ("Số liệu tính đến", INSTANT, lambda row: _local(row["as_of"]), None),
    ("Sự kiện đến muộn không tính", INTEGER, lambda row: row["late_events"], None),
)
_HEADER_FILL = PatternFill("solid", fgColor="DDE7F0")


def _title(document: Mapping[str, Any]) -> str:
    start, end = _local(document["start"]), _local(document["end"])
    assert start is not None and end is not None
    return (
        f"Báo cáo kỳ {document['period']}: từ {start:%H:%M} ngày {start:%d/%m/%Y} "
        f"đến trước {end:%H:%M} ngày {end:%d/%m/%Y}"
    )


def xlsx_bytes(document: Mapping[str, Any]) -> bytes:
    """The report as an XLSX workbook: one sheet per level present, the sheets by work
    mode, category and assignee, then the formulas (openpyxl's write-only mode: a
    quarter of every unit is written in well under a second)."""
    workbook = Workbook(write_only=True)
    levels: dict[str, list[Mapping[str, Any]]] = {}
    for row in document["rows"]:
        levels.setdefault(row["kind"], []).append(row)
    formulas = document["formulas"]
    for kind in LEVELS:
        rows = levels.get(kind)
        if not rows:
            continue
        sheet = workbook.create_sheet(LEVELS[kind][0][:31])
        for column in range(1, len(COLUMNS) + 1):
            sheet.column_dimensions[get_column_letter(column)].width = 14 if column > 2 else 24
        sheet.column_dimensions["B"].width = 36
        sheet.freeze_panes = "C5"
        _preamble(
            sheet,
            document,
            "Các tỉ lệ theo Quyết định 766/QĐ-TTg; công thức ở trang 'Công thức' "
            "và trong ghi chú tiêu đề cột.",
        )
        headers = []
        for header, _, _, formula in COLUMNS:
            cell = _header(sheet, header)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if formula is not None:
                cell.comment = Comment(formulas[formula]["vi"], "govpulse")
            headers.append(cell)
        sheet.append(headers)
        ordered = sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["unit"]))
        for row in ordered:
            sheet.append([_value(sheet, get(row), fmt) for _, fmt, get, _ in COLUMNS])
    _split_sheets(workbook, document)
    sheet = workbook.create_sheet("Công thức")
    sheet.column_dimensions["B"].width = 90
    sheet.column_dimensions["C"].width = 90
    sheet.append(
        [_header(sheet, text, fill=False) for text in ("Chỉ tiêu", "Công thức", "Formula (English)")]
    )
    for name, text in formulas.items():
        sheet.append([name, text["vi"], text["en"]])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _preamble(sheet: Any, document: Mapping[str, Any], note: str) -> None:
    """Rows 1-3: the title, a note, an empty row (the headers go on row 4)."""
    title = WriteOnlyCell(sheet, value=_title(document))
    title.font = Font(bold=True, size=13)
    sheet.append([title])
    sheet.append([note])
    sheet.append([])


def _header(sheet: Any, text: str, *, fill: bool = True) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=text)
    cell.font = Font(bold=True)
    if fill:
        cell.fill = _HEADER_FILL
    return cell


def _value(sheet: Any, value: Any, number_format: str | None) -> Any:
    if number_format is None or value is None:
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = number_format
    return cell


#: Split sheets: (dimension, sheet title, header of the label column).
SPLIT_SHEETS = (
    ("work_mode", "Theo hình thức làm việc", "Hình thức làm việc"),
    ("category", "Theo lĩnh vực", "Lĩnh vực"),
    ("assignee", "Theo cán bộ", "Mã cán bộ"),
)
WORK_MODES = {"office": "Tại cơ quan", "home": "Tại nhà", "field": "Hiện trường", "unknown": "Chưa rõ"}
#: (header, number format, figure) of the split sheets: flow figures only.
SPLIT_COLUMNS = (
    ("Tiếp nhận trong kỳ", INTEGER, "received"),
    ("Đã giải quyết", INTEGER, "resolved"),
    ("Đúng hạn hoặc trước hạn", INTEGER, "on_time"),
    ("Giải quyết trễ hạn", INTEGER, "late"),
    ("Tỉ lệ đúng hạn (QĐ 766)", PERCENT, "on_time_rate"),
    ("Trở thành quá hạn", INTEGER, "became_overdue"),
    ("Mở lại", INTEGER, "reopened"),
)


def _split_sheets(workbook: Workbook, document: Mapping[str, Any]) -> None:
    """One sheet per split dimension present (assignee only when the document has it)."""
    for dimension, title, label_header in SPLIT_SHEETS:
        rows = [
            (row, label, figures)
            for row in document["rows"]
            for label, figures in sorted(row.get("splits", {}).get(dimension, {}).items())
        ]
        if not rows:
            continue
        sheet = workbook.create_sheet(title)
        sheet.column_dimensions["B"].width = 36
        sheet.column_dimensions["C"].width = 22
        _preamble(
            sheet,
            document,
            "Chỉ số dòng chảy theo cùng công thức QĐ 766; số tồn (tồn kỳ trước, trễ còn tồn) "
            "chỉ tính theo đơn vị.",
        )
        headers = ["Mã đơn vị", "Tên đơn vị", label_header, *(h for h, _, _ in SPLIT_COLUMNS)]
        sheet.append([_header(sheet, header) for header in headers])
        for row, label, figures in rows:
            shown = WORK_MODES.get(label, label) if dimension == "work_mode" else label
            sheet.append(
                [
                    row["unit"],
                    row["name_vi"],
                    shown,
                    *(_value(sheet, figures.get(name), fmt) for _, fmt, name in SPLIT_COLUMNS),
                ]
            )


def csv_bytes(document: Mapping[str, Any]) -> bytes:
    """The report as CSV: UTF-8 with a BOM, a level column, rates in percent (1 decimal)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Cấp", *(_csv_header(header, fmt) for header, fmt, _, _ in COLUMNS)])
    for row in sorted(document["rows"], key=lambda r: (list(LEVELS).index(r["kind"]), r["unit"])):
        values = [LEVELS[row["kind"]][0]]
        for _, number_format, get, _ in COLUMNS:
            values.append(_csv_value(get(row), number_format))
        writer.writerow(values)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def _csv_header(header: str, number_format: str | None) -> str:
    return f"{header} (%)" if number_format == PERCENT else header


def _csv_value(value: Any, number_format: str | None) -> str:
    if value is None:
        return ""
    if number_format == PERCENT:
        return f"{value * 100:.1f}"
    if number_format == DAYS:
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    text = str(value)
    # A cell starting with = + - @ would be a formula in a spreadsheet: keep it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
