"""XLSX (opened with openpyxl, checked cell by cell) and CSV (UTF-8 with BOM) downloads."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from openpyxl import load_workbook

from domain.catalog import Catalog
from domain.classification import Classification
from domain.reports import Period
from tests.support.reports import CITY, DEPT, WARD_A, WARD_B, sample_reports
from web.auth import Scope
from web.exports import COLUMNS, csv_bytes, xlsx_bytes
from web.reports import report_document

DATA = Path(__file__).resolve().parents[2] / "domain" / "data"
CATALOG = Catalog.from_file(DATA / "units.json")
BANDS = Classification.from_file(DATA / "classification.toml")


LEADER = Scope("leader")


def document(period: str, scope: Scope = LEADER) -> dict[str, object]:
    data: dict[str, dict[str, object]] = {}
    for report in sample_reports():
        data.setdefault(report.period, {})[report.unit] = report
    doc = report_document(Period.parse(period), data, catalog=CATALOG, classification=BANDS, scope=scope)
    # Keep the units that have reports (the others are zero rows).
    doc["rows"] = [row for row in doc["rows"] if row["revision"] is not None]  # type: ignore[index]
    return doc


HEADERS = [
    "Mã đơn vị",
    "Tên đơn vị",
    "Tiếp nhận trong kỳ",
    "Tồn kỳ trước chuyển sang",
    "Đã giải quyết",
    "Đúng hạn hoặc trước hạn",
    "Giải quyết trễ hạn",
    "Trễ hạn còn tồn cuối kỳ",
    "Tỉ lệ đúng hạn (QĐ 766)",
    "Tỉ lệ trễ hạn (QĐ 766)",
    "Thời gian xử lý trung bình (ngày)",
    "Thời gian xử lý P90 (ngày)",
    "Chuyển đến",
    "Chuyển đi",
    "Mở lại",
    "Hạng",
    "Thay đổi hạng so với kỳ trước",
    "Xếp loại",
    "Căn cứ xếp loại",
    "Lần sửa số liệu",
    "Số liệu tính đến",
    "Sự kiện đến muộn không tính",
]


def test_xlsx_has_one_sheet_per_level_with_vietnamese_headers_and_number_formats() -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes(document("2026-11"))))
    assert book.sheetnames[:3] == ["Thành phố", "Sở, ban, ngành", "Phường"]
    wards = book["Phường"]
    assert wards["A1"].value == "Báo cáo kỳ 2026-11: từ 12:00 ngày 25/10/2026 đến trước 12:00 ngày 25/11/2026"
    assert [cell.value for cell in wards[4]] == HEADERS
    assert wards["I4"].comment is not None
    assert wards["I4"].comment.text.startswith("Tỉ lệ đúng hạn (QĐ 766) = số đã giải quyết đúng hạn")
    assert wards["J4"].comment.text.startswith("Tỉ lệ trễ hạn (QĐ 766) = (số trễ hạn còn tồn cuối kỳ")
    # Row 5: the best ward (P-SAI-GON, 58/60), row 6: P-BEN-THANH (60/80).
    first = [cell.value for cell in wards[5]]
    assert first == [
        WARD_A,
        "Phường Sài Gòn",
        80,
        3,
        60,
        58,
        2,
        1,
        58 / 60,
        (1 + 2) / (80 + 3),
        2.5,
        4.0,
        2,
        1,
        1,
        1,
        0,
        None,
        None,
        2,
        datetime(2026, 11, 25, 14, 0),
        0,
    ]
    assert [cell.number_format for cell in wards[5]][2:] == [
        "#,##0",
        "#,##0",
        "#,##0",
        "#,##0",
        "#,##0",
        "#,##0",
        "0.0%",
        "0.0%",
        "0.0",
        "0.0",
        "#,##0",
        "#,##0",
        "#,##0",
        "#,##0",
        "+0;-0;0",
        "General",
        "General",
        "#,##0",
        "dd/mm/yyyy hh:mm",
        "#,##0",
    ]
    assert wards["A6"].value == WARD_B and wards["I6"].value == 60 / 80 and wards["P6"].value == 2
    assert wards["A7"].value is None
    assert book["Thành phố"]["A5"].value == CITY
    assert book["Sở, ban, ngành"]["A5"].value == DEPT and book["Sở, ban, ngành"]["P5"].value is None
    formulas = book["Công thức"]
    assert [formulas.cell(row=r, column=1).value for r in range(2, 6)] == [
        "on_time_rate",
        "late_rate",
        "avg_days",
        "p90_days",
    ]
    assert formulas["C3"].value.startswith(
        "Late rate (QĐ 766) = (late still open at the period's end + resolved late)"
    )


def test_quarter_xlsx_carries_the_classification_and_its_rule() -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes(document("2026-Q4"))))
    wards = book["Phường"]
    assert wards["A5"].value == WARD_A
    assert wards["C5"].value == 240 and wards["E5"].value == 180
    assert wards["R5"].value == "Hoàn thành tốt nhiệm vụ"
    assert wards["S5"].value.startswith("tỉ lệ đúng hạn 96.7 % ≥ 85.0 % và tỉ lệ trễ hạn")
    assert book["Sở, ban, ngành"]["R5"].value == "Không xếp loại"


def test_csv_is_utf8_with_a_bom_a_level_column_and_percent_rates() -> None:
    body = csv_bytes(document("2026-11"))
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))
    assert rows[0][:4] == ["Cấp", "Mã đơn vị", "Tên đơn vị", "Tiếp nhận trong kỳ"]
    assert rows[0][9] == "Tỉ lệ đúng hạn (QĐ 766) (%)"
    assert [row[1] for row in rows[1:]] == [CITY, DEPT, WARD_B, WARD_A]
    ward = rows[4]
    assert ward[0] == "Phường" and ward[2] == "Phường Sài Gòn"
    assert ward[9] == "96.7" and ward[10] == "3.6" and ward[11] == "2.50"
    assert ward[-2] == "25/11/2026 14:00"
    assert len(COLUMNS) + 1 == len(ward)


def test_csv_keeps_cells_that_look_like_formulas_as_text() -> None:
    doc = document("2026-11")
    doc["rows"][0]["name_vi"] = '=HYPERLINK("x")'  # type: ignore[index]
    body = csv_bytes(doc).decode("utf-8-sig")
    assert "'=HYPERLINK" in body


def test_xlsx_has_sheets_by_work_mode_category_and_assignee() -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes(document("2026-11"))))
    assert book.sheetnames[-4:] == ["Theo hình thức làm việc", "Theo lĩnh vực", "Theo cán bộ", "Công thức"]
    modes = book["Theo hình thức làm việc"]
    assert [c.value for c in modes[4]] == [
        "Mã đơn vị",
        "Tên đơn vị",
        "Hình thức làm việc",
        "Tiếp nhận trong kỳ",
        "Đã giải quyết",
        "Đúng hạn hoặc trước hạn",
        "Giải quyết trễ hạn",
        "Tỉ lệ đúng hạn (QĐ 766)",
        "Trở thành quá hạn",
        "Mở lại",
    ]
    assert [c.value for c in modes[5]] == [WARD_A, "Phường Sài Gòn", "Tại nhà", 12, 10, 9, 1, 0.9, 0, 0]
    assert modes["H5"].number_format == "0.0%"
    assert book["Theo cán bộ"]["C5"].value == "cb-0042"


def test_wall_xlsx_has_no_assignee_sheet() -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes(document("2026-11", Scope("wall")))))
    assert "Theo cán bộ" not in book.sheetnames
