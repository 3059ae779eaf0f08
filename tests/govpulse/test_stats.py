"""``govpulse stats``: the board's unit counters from Redis as a table or JSON, with each
unit's health as its wall tile shows it (alerts/health.py).

The unit entries are written the way the worker's publisher writes them: the unit board
JSON (``stream.stages.units.UnitProcessor.board``: gauges, one summary per window from
:func:`stream.metrics.window_summary`, colour) and the alert records, through
:meth:`runtime.board.BoardStore.publish`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain.events import parse_instant
from domain.sketch import Sketch
from domain.windows import window_specs
from govpulse.cli import main
from govpulse.stats import COLUMNS, format_table, rows
from runtime import services
from runtime.board import BoardStore, Change
from stream.metrics import Gauges, WindowRecord, window_summary
from tests.support.webtools import alert_json

NOW = parse_instant("2026-12-08T10:20:00+07:00")
HOUR = 3600.0
SPECS = window_specs(("5m", "1h", "1d", "period"), {})
HEADER = (
    "UNIT       RECV  RESOLVED  ON-TIME  LATE  OVERDUE+  IN  OUT  REOPEN"
    "  ON-TIME%   P90  OPEN  OVERDUE  HEALTH  WHY"
)


def record(received: int, on_time: int, late: int, latencies_h: list[float], **more: int) -> WindowRecord:
    latency = Sketch()
    for hours in latencies_h:
        latency.add(hours * HOUR)
    counts = {
        "received": received,
        "resolved": on_time + late,
        "resolved_on_time": on_time,
        "resolved_late": late,
        "opened": received,
        "closed": on_time + late,
        **more,
    }
    return WindowRecord(counts=counts, latency=latency)


def unit_board(code: str, records: dict[str, WindowRecord], gauges: Gauges, colour: str) -> dict[str, Any]:
    """A unit's board entry as the unit stage publishes it (windows without data are zeros)."""
    windows = {
        spec.name: window_summary(
            spec, spec.start(NOW), records.get(spec.name), gauges=gauges, net_since_start=0
        )
        for spec in SPECS
    }
    return {
        "code": code,
        "name_vi": code,
        "name_en": code,
        "kind": "ward",
        "parent": "HCM",
        "at": NOW,
        "gauges": gauges.to_json(),
        "windows": windows,
        "colour": colour,
        "spark": [0] * 24,
    }


PHU_LOI = unit_board(
    "P-PHU-LOI",
    {
        "1h": record(
            12,
            7,
            1,
            [1, 2, 2, 3, 3, 4, 6, 9],
            became_overdue=2,
            transferred_in=1,
            transferred_out=3,
            reopened=1,
        ),
        "1d": record(40, 30, 6, [1.5] * 36, became_overdue=5),
    },
    Gauges(open=5, overdue=2, due_soon=1, oldest_open_at=NOW - 86400),
    "orange",
)
BEN_THANH = unit_board(
    "P-BEN-THANH", {"1d": record(3, 0, 0, [])}, Gauges(open=3, overdue=0, due_soon=0), "grey"
)
HCM = unit_board(
    "HCM", {"1d": record(43, 30, 6, [1.5] * 36, became_overdue=5)}, Gauges(open=8, overdue=2), "orange"
)
# P-BEN-THANH: grey rates but a critical alert still firing; the resolved one and the
# due-soon heads-up leave the status alone. P-PHU-LOI: orange day rates only.
ALERTS = [
    alert_json("fp-ben-thanh-1", "P-BEN-THANH", severity="critical"),
    alert_json("fp-ben-thanh-2", "P-BEN-THANH", severity="critical", state="resolved", escalation=2),
    {**alert_json("fp-phu-loi-1", "P-PHU-LOI", severity="info"), "rule": "item_due_soon"},
]
PHU_LOI_1H_ROW = (
    "P-PHU-LOI    12         8        7     1         2   1    3       1"
    "      87.5  6.1h     5        2   watch  rate.orange=36"
)


def publish(redis_url: str, boards: list[dict[str, Any]], alerts: list[dict[str, Any]] = ALERTS) -> None:
    async def run() -> None:
        store = BoardStore.from_url(redis_url)
        try:
            await store.publish(
                [Change("unit", b["code"], b["code"], orjson.dumps(b)) for b in boards]
                + [Change("alert", a["fingerprint"], a["unit"], orjson.dumps(a)) for a in alerts]
            )
        finally:
            await store.close()

    asyncio.run(run())


# -- formatting (pure) --------------------------------------------------------------------------------


def row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {name: 0 for name, _ in COLUMNS}
    return {
        **base,
        "unit": "P-X",
        "on_time_rate": None,
        "p90": None,
        "health": "none",
        "reasons": {},
        **values,
    }


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        pytest.param("on_time_rate", 0.875, "87.5", id="rate as a percentage"),
        pytest.param("on_time_rate", 1.0, "100.0", id="full rate"),
        pytest.param("on_time_rate", 0.0, "0.0", id="zero rate is not missing"),
        pytest.param("on_time_rate", None, "-", id="no rate"),
        pytest.param("p90", 5400.0, "1.5h", id="p90 in hours"),
        pytest.param("p90", 90000.0, "25.0h", id="p90 over a day"),
        pytest.param("p90", 0.0, "0.0h", id="p90 zero"),
        pytest.param("p90", None, "-", id="no p90"),
        pytest.param("received", 1234, "1234", id="count"),
        pytest.param("health", "act", "act", id="health"),
        pytest.param("reasons", {}, "-", id="no reasons"),
        pytest.param(
            "reasons", {"alert.critical": 2, "rate.red": 60}, "alert.critical=2,rate.red=60", id="reasons"
        ),
    ],
)
def test_format_table_renders_each_cell_readably(name: str, value: Any, text: str) -> None:
    header, line = format_table([row(**{name: value})]).splitlines()

    index = [n for n, _ in COLUMNS].index(name)
    assert line.split()[index] == text
    assert header.split()[index] == COLUMNS[index][1]


def test_format_table_left_aligns_units_and_right_aligns_numbers_under_their_headers() -> None:
    table = [
        row(
            unit="P-PHU-LOI",
            received=12,
            on_time_rate=0.5,
            p90=7200.0,
            open=5,
            health="act",
            reasons={"alert.escalated": 1, "rate.red": 12},
        ),
        row(unit="HCM", received=1043, open=120, overdue=17, health="watch", reasons={"rate.orange": 2}),
    ]

    assert format_table(table) == "\n".join(
        [
            "UNIT       RECV  RESOLVED  ON-TIME  LATE  OVERDUE+  IN  OUT  REOPEN"
            "  ON-TIME%   P90  OPEN  OVERDUE  HEALTH  WHY",
            "P-PHU-LOI    12         0        0     0         0   0    0       0"
            "      50.0  2.0h     5        0     act  alert.escalated=1,rate.red=12",
            "HCM        1043         0        0     0         0   0    0       0"
            "         -     -   120       17   watch  rate.orange=2",
        ]
    )


def test_format_table_of_no_rows_is_the_header() -> None:
    assert format_table([]) == "  ".join(header for _, header in COLUMNS)


def test_rows_take_the_window_and_gauges_of_each_unit_sorted_by_code() -> None:
    alerts = {"P-BEN-THANH": ALERTS[:2], "P-PHU-LOI": ALERTS[2:]}
    table = rows({"P-PHU-LOI": PHU_LOI, "HCM": HCM, "P-BEN-THANH": BEN_THANH}, "1d", alerts)

    assert [r["unit"] for r in table] == ["HCM", "P-BEN-THANH", "P-PHU-LOI"]
    assert table[2] == {
        "unit": "P-PHU-LOI",
        "received": 40,
        "resolved": 36,
        "resolved_on_time": 30,
        "resolved_late": 6,
        "became_overdue": 5,
        "transferred_in": 0,
        "transferred_out": 0,
        "reopened": 0,
        "on_time_rate": 30 / 36,
        "p90": PHU_LOI["windows"]["1d"]["latency"]["p90"],
        "open": 5,
        "overdue": 2,
        "health": "watch",
        "reasons": {"rate.orange": 36},
    }
    assert (table[1]["on_time_rate"], table[1]["p90"]) == (None, None)  # nothing resolved yet
    assert (table[1]["health"], table[1]["reasons"]) == ("act", {"alert.critical": 1})
    assert (table[0]["health"], table[0]["reasons"]) == ("watch", {"rate.orange": 36})


HEALTH_FILE = Path(__file__).parents[1] / "alerts" / "health_cases.json"
HEALTH_CASES = [
    case
    for case in orjson.loads(HEALTH_FILE.read_bytes())["cases"]
    if isinstance(((case["unit"] or {}).get("windows") or {}).get("1d"), dict)  # a row needs the window
]


@pytest.mark.parametrize("case", HEALTH_CASES, ids=lambda case: case["name"])
def test_the_health_column_is_the_wall_tiles_rule(case: dict[str, Any]) -> None:
    (line,) = rows({"P-X": case["unit"]}, "1d", {"P-X": case["alerts"]})

    assert (line["health"], line["reasons"]) == (case["status"], dict(map(tuple, case["reasons"])))


@pytest.mark.parametrize(
    ("board", "expected"),
    [
        pytest.param({"code": "P-X"}, [], id="no windows at all"),
        pytest.param({"code": "P-X", "windows": {"1h": {}}}, [], id="only another window"),
        pytest.param({"code": "P-X", "windows": "x"}, [], id="garbage windows"),
        pytest.param(
            {"code": "P-X", "windows": {"1d": {}}, "gauges": None},
            [row(unit="P-X")],
            id="null gauges: zeros",
        ),
        pytest.param(
            {"code": "P-X", "windows": {"1d": {}}},
            [row(unit="P-X")],
            id="empty window, no gauges: zeros",
        ),
    ],
)
def test_rows_skip_units_without_the_window_and_default_missing_values(
    board: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    assert rows({"P-X": board}, "1d") == expected


# -- the command against a real Redis ----------------------------------------------------------------


@pytest.fixture
def board(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    publish(redis_url, [PHU_LOI, BEN_THANH, HCM])
    monkeypatch.setenv("GOVPULSE_REDIS_URL", redis_url)
    return redis_url


@pytest.mark.integration
def test_stats_of_one_unit_and_window_prints_its_counters_as_a_table(
    board: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["stats", "--unit", "P-PHU-LOI", "--window", "1h"])

    out = capsys.readouterr()
    assert code == 0
    assert out.out == f"{HEADER}\n{PHU_LOI_1H_ROW}\n"
    assert out.err == ""


@pytest.mark.integration
def test_stats_without_a_unit_lists_every_unit_of_the_window(
    board: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["stats", "--window", "1d"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines] == ["UNIT", "HCM", "P-BEN-THANH", "P-PHU-LOI"]
    assert lines[2].split() == [
        "P-BEN-THANH",
        "3",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "-",
        "-",
        "3",
        "0",
        "act",
        "alert.critical=1",
    ]
    assert lines[3].split()[:10] == ["P-PHU-LOI", "40", "36", "30", "6", "5", "0", "0", "0", "83.3"]


@pytest.mark.integration
def test_stats_window_defaults_to_the_day(board: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--unit", "HCM"]) == 0

    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["HCM", "43", "36"]


@pytest.mark.integration
def test_stats_json_prints_the_rows_as_json(board: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["stats", "--unit", "P-PHU-LOI", "--window", "1h", "--json"])

    assert code == 0
    assert orjson.loads(capsys.readouterr().out) == [
        {
            "unit": "P-PHU-LOI",
            "received": 12,
            "resolved": 8,
            "resolved_on_time": 7,
            "resolved_late": 1,
            "became_overdue": 2,
            "transferred_in": 1,
            "transferred_out": 3,
            "reopened": 1,
            "on_time_rate": 0.875,
            "p90": PHU_LOI["windows"]["1h"]["latency"]["p90"],
            "open": 5,
            "overdue": 2,
            "health": "watch",
            "reasons": {"rate.orange": 36},
        }
    ]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--unit", "P-ATLANTIS"],
            "no counters for unit 'P-ATLANTIS' on the board (is the worker running?)",
            id="unknown unit",
        ),
        pytest.param(
            ["--unit", "P-ATLANTIS", "--json"],
            "no counters for unit 'P-ATLANTIS' on the board (is the worker running?)",
            id="unknown unit, json",
        ),
        pytest.param(
            ["--window", "2h"],
            "unknown window '2h': configured windows are 5m, 1h, 1d, period",
            id="unknown window",
        ),
        pytest.param(
            ["--unit", "P-PHU-LOI", "--window", "week"],
            "unknown window 'week': configured windows are 5m, 1h, 1d, period",
            id="unknown window of a known unit",
        ),
    ],
)
def test_stats_of_an_unknown_unit_or_window_says_so_and_exits_non_zero(
    board: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(["stats", *argv])

    out = capsys.readouterr()
    assert code == 1
    assert message in (out.out + out.err).splitlines()


@pytest.mark.integration
def test_stats_json_of_an_unknown_window_is_an_error(board: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["stats", "--window", "2h", "--json"])

    assert code != 0
    assert capsys.readouterr().out == ""


@pytest.mark.integration
def test_stats_errors_go_to_stderr_and_leave_stdout_empty(
    board: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["stats", "--unit", "P-ATLANTIS", "--json"])

    out = capsys.readouterr()
    assert code == 1
    assert out.out == ""
    assert out.err == "no counters for unit 'P-ATLANTIS' on the board (is the worker running?)\n"


@pytest.mark.integration
def test_stats_on_an_empty_board_says_there_are_no_counters_yet(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOVPULSE_REDIS_URL", redis_url)

    code = main(["stats"])

    out = capsys.readouterr()
    assert code == 1
    assert (out.out, out.err) == ("", "no counters for window '1d' yet (is the worker running?)\n")


def test_stats_without_redis_names_the_url_and_the_setting_to_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://127.0.0.1:{services.free_port()}/0"
    monkeypatch.setenv("GOVPULSE_REDIS_URL", url)

    code = main(["stats"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"govpulse stats: Redis {url} unreachable: ")
    assert err.endswith("; check GOVPULSE_REDIS_URL\n")


@pytest.mark.integration
def test_govpulse_stats_command_runs_as_a_process(board: str) -> None:
    env = {**os.environ, "GOVPULSE_REDIS_URL": board}
    done = subprocess.run(
        [sys.executable, "-m", "govpulse.cli", "stats", "--unit", "P-PHU-LOI", "--window", "1h"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"{HEADER}\n{PHU_LOI_1H_ROW}\n"
