"""Helpers for the web tests: a real web node in-process, tokens, clients, board data."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from runtime.board import BoardStore, Change
from runtime.services import free_port
from runtime.settings import Settings, load_settings
from web.auth import mint_token
from web.server import serve

SECRET = "test-secret-0123456789abcdef"
UNIT_A = "P-SAI-GON"
UNIT_B = "P-BEN-THANH"
CITY = "HCM"


@dataclass(frozen=True)
class WebNode:
    settings: Settings
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def web_environ(redis_url: str, **extra: str) -> dict[str, str]:
    """Settings for a test web node on a free port (commands go to a closed port)."""
    port = free_port()
    environ = {
        "GOVPULSE_REDIS_URL": redis_url,
        "GOVPULSE_WEB_PORT": str(port),
        "GOVPULSE_SECRET": SECRET,
        "GOVPULSE_WS_HEARTBEAT": "1s",
        "GOVPULSE_BROKER_URL": f"127.0.0.1:{free_port()}",
    }
    environ.update(extra)
    return environ


@contextlib.asynccontextmanager
async def running_node(environ: Mapping[str, str]) -> AsyncIterator[WebNode]:
    """Run ``web.server.serve`` in this event loop until the block ends."""
    settings = load_settings(environ)
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()
    if waiter not in done:
        task.cancel()
        raise TimeoutError("web node did not start within 15 s")
    try:
        yield WebNode(settings, settings.web_port)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def token(scope: str, *, ttl: float = 3600, subject: str = "tester", now: float | None = None) -> str:
    return mint_token(
        SECRET,
        scope=scope,
        ttl_seconds=ttl,
        subject=subject,
        now=time.time() if now is None else now,
    )


async def open_client(
    node: WebNode,
    scope_or_token: str,
    *,
    resume: dict[str, str] | None = None,
    view: str | None = None,
    origin: str | None = None,
    raw_token: bool = False,
    batch: bool | None = None,
    **kwargs: Any,
) -> ClientConnection:
    """Connect and send the auth frame."""
    ws = await connect(node.ws_url, origin=origin, open_timeout=5, **kwargs)  # type: ignore[arg-type]
    frame: dict[str, Any] = {
        "type": "auth",
        "token": scope_or_token if raw_token else token(scope_or_token),
    }
    if resume is not None:
        frame["resume"] = resume
    if view is not None:
        frame["view"] = view
    if batch is not None:
        frame["batch"] = batch
    await ws.send(orjson.dumps(frame).decode())
    return ws


async def recv(ws: ClientConnection, timeout: float = 3.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout)
    data = orjson.loads(message)
    assert isinstance(data, dict)
    return data


async def recv_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames until one matches ``predicate``: (match, every frame before it)."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError(f"no matching frame within {timeout}s; saw {[f.get('type') for f in seen]}")
        frame = await recv(ws, left)
        if predicate(frame):
            return frame, seen
        seen.append(frame)


async def recv_data(ws: ClientConnection, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The next ``count`` frames that are not heartbeats."""
    frames: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(frames) < count:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError(f"got {len(frames)} of {count} frames: {frames}")
        frame = await recv(ws, left)
        if frame["type"] != "heartbeat":
            frames.append(frame)
    return frames


async def quiet(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Non-heartbeat frames received during ``seconds`` (expecting none, usually)."""
    frames: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return frames
        try:
            frame = await recv(ws, left)
        except TimeoutError:
            return frames
        if frame["type"] != "heartbeat":
            frames.append(frame)


# -- board data ---------------------------------------------------------------------


def window(received: int, resolved: int, late: int, *, start: float = 0.0) -> dict[str, Any]:
    on_time = resolved - late
    return {
        "start": start,
        "end": start + 86400,
        "received": received,
        "resolved": resolved,
        "resolved_on_time": on_time,
        "resolved_late": late,
        "became_overdue": late,
        "transferred_in": 0,
        "transferred_out": 0,
        "reopened": 0,
        "cancelled": 0,
        "late_events": 0,
        "carried_over": 10,
        "latency": {"p50": 3600.0, "p90": 4 * 3600.0, "p99": 20 * 3600.0},
        "on_time_rate": on_time / resolved if resolved else None,
        "late_rate": late / (received + 10) if received else None,
    }


def unit_json(
    code: str,
    *,
    name_vi: str = "",
    name_en: str = "",
    kind: str = "ward",
    colour: str = "green",
    overdue: int = 0,
    open_: int = 10,
    due_soon: int = 1,
    received: int = 20,
    resolved: int = 15,
    late: int = 1,
    spark: list[int] | None = None,
    at: float = 0.0,
) -> dict[str, Any]:
    day = window(received, resolved, late, start=at)
    return {
        "code": code,
        "name_vi": name_vi or f"Phường {code}",
        "name_en": name_en or f"{code} Ward",
        "kind": kind,
        "parent": None if kind == "city" else CITY,
        "at": at,
        "gauges": {
            "open": open_,
            "overdue": overdue,
            "due_soon": due_soon,
            "oldest_open_at": at - 86400,
        },
        "windows": {"5m": day, "1h": day, "1d": day, "period": day},
        "colour": colour,
        "spark": spark if spark is not None else [3] * 24,
    }


def alert_json(
    fingerprint: str,
    unit: str,
    *,
    severity: str = "critical",
    state: str = "firing",
    title_vi: str = "Hồ sơ quá hạn",
    title_en: str = "Item overdue",
    at: float = 0.0,
    escalation: int = 0,
    explanations: list[dict[str, Any]] | None = None,
    item_id: str | None = None,
    unit_name_vi: str | None = None,
) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "rule": "item_overdue",
        "severity": severity,
        "state": state,
        "unit": unit,
        "unit_name_vi": unit_name_vi or f"Phường {unit}",
        "unit_name_en": f"{unit} Ward",
        "item_id": item_id,
        "opened_at": at,
        "updated_at": at,
        "acked_at": None,
        "acked_by": None,
        "escalation": escalation,
        "audience": ["wall", "leaders", f"unit:{unit}"],
        "title_vi": title_vi,
        "title_en": title_en,
        "text_vi": f"{title_vi} tại {unit}",
        "text_en": f"{title_en} at {unit}",
        "silenced": False,
        "reminders": 0,
        "incident": None,
        "explanations": explanations or [],
        "facts": {},
    }


def queue_json(
    item_id: str, unit: str, *, title: str = "Rác thải", due: float = 0.0, **extra: Any
) -> dict[str, Any]:
    data = {
        "id": item_id,
        "kind": "feedback",
        "unit": unit,
        "title": title,
        "category": "moi-truong",
        "priority": "normal",
        "channel": "1022",
        "status": "open",
        "stage": "assigned",
        "received_at": due - 86400 * 3,
        "unit_since": due - 86400 * 3,
        "original_due": due,
        "due": due,
        "unit_due": due,
        "due_soon": False,
        "overdue_at": None,
        "appointment_at": None,
        "escalation": 0,
        "reopen_count": 0,
        "transfer_count": 0,
        "seq": 2,
    }
    data.update(extra)
    return data


def unit_change(code: str, **kwargs: Any) -> Change:
    return Change("unit", code, code, orjson.dumps(unit_json(code, **kwargs)))


def alert_change(fingerprint: str, unit: str, **kwargs: Any) -> Change:
    return Change("alert", fingerprint, unit, orjson.dumps(alert_json(fingerprint, unit, **kwargs)))


def queue_change(item_id: str, unit: str, **kwargs: Any) -> Change:
    return Change("queue", item_id, unit, orjson.dumps(queue_json(item_id, unit, **kwargs)))


async def beat_forever(
    store: BoardStore, *, interval: float = 0.5, stop: asyncio.Event | None = None
) -> None:
    """Pretend a worker is alive (for pages that show STALE without one), until ``stop`` is
    set: stopping that way never leaves a Redis command half done, as a cancel can."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        await store.beat("test-worker", now=time.time(), info={"clock": time.time(), "partitions": [0]})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


# -- a realistic board (screenshots, page tests) --------------------------------------

_TITLES = (
    "Rác thải tồn đọng trên vỉa hè đường Nguyễn Trãi",
    "Lấn chiếm lòng đường kinh doanh buổi tối",
    "Đèn chiếu sáng công cộng hư hỏng tại hẻm 215",
    "Ngập nước sau mưa tại giao lộ Lê Văn Sỹ",
    "Xây dựng không phép tại khu dân cư",
    "Tiếng ồn từ quán karaoke sau 22 giờ",
    "Cây xanh có nguy cơ ngã đổ trước trường học",
    "Hố ga mất nắp gây nguy hiểm cho người đi đường",
    "Đề nghị cấp đổi giấy chứng nhận quyền sử dụng đất quá hạn",
    "Nước thải sinh hoạt chảy tràn ra đường",
    "Biển báo giao thông bị che khuất",
    "Bãi giữ xe tự phát trên vỉa hè",
    "Khói bụi từ công trình xây dựng",
    "Chậm giải quyết hồ sơ đăng ký kinh doanh",
    "Cống thoát nước bị tắc nghẽn",
)
_CATEGORIES = ("moi-truong", "trat-tu-do-thi", "giao-thong", "dat-dai", "xay-dung")


def realistic_board(
    units: list[dict[str, Any]], *, now: float, queue_unit: str, seed: int = 7
) -> list[Change]:
    """Unit counters for every catalog unit, a city roll-up, alerts and one unit's queue."""
    import random

    rng = random.Random(seed)
    changes: list[Change] = []
    totals = {"received": 0, "resolved": 0, "late": 0, "open": 0, "overdue": 0, "due_soon": 0}
    spark_total = [0] * 24
    city: dict[str, Any] | None = None
    for unit in units:
        if unit["kind"] == "city":
            city = unit
            continue
        weight = float(unit.get("weight", 1.0))
        received = int(rng.randint(4, 40) * weight)
        if rng.random() < 0.06:
            received = 0
        resolved = int(received * rng.uniform(0.4, 0.9))
        roll = rng.random()
        late = int(resolved * (0.02 if roll < 0.6 else 0.18 if roll < 0.85 else 0.4))
        overdue = 0 if roll < 0.5 else rng.randint(1, 4) if roll < 0.85 else rng.randint(5, 14)
        open_ = received - resolved + rng.randint(5, 30)
        due_soon = rng.randint(0, 6)
        rate = (resolved - late) / resolved if resolved else None
        colour = (
            "grey"
            if rate is None
            else "green"
            if rate >= 0.9 and overdue < 5
            else "orange"
            if rate >= 0.75
            else "red"
        )
        spark = [max(0, int(weight * rng.gauss(2.0, 1.2))) for _ in range(24)]
        for i, value in enumerate(spark):
            spark_total[i] += value
        for key, value in (
            ("received", received),
            ("resolved", resolved),
            ("late", late),
            ("open", open_),
            ("overdue", overdue),
            ("due_soon", due_soon),
        ):
            totals[key] += value
        changes.append(
            Change(
                "unit",
                unit["code"],
                unit["code"],
                orjson.dumps(
                    unit_json(
                        unit["code"],
                        name_vi=unit["name_vi"],
                        name_en=unit["name_en"],
                        kind=unit["kind"],
                        colour=colour,
                        overdue=overdue,
                        open_=open_,
                        due_soon=due_soon,
                        received=received,
                        resolved=resolved,
                        late=late,
                        spark=spark,
                        at=now,
                    )
                ),
            )
        )
    if city is not None:
        rate = (totals["resolved"] - totals["late"]) / totals["resolved"]
        changes.append(
            Change(
                "unit",
                city["code"],
                city["code"],
                orjson.dumps(
                    unit_json(
                        city["code"],
                        name_vi=city["name_vi"],
                        name_en=city["name_en"],
                        kind="city",
                        colour="orange" if rate < 0.9 else "green",
                        overdue=totals["overdue"],
                        open_=totals["open"],
                        due_soon=totals["due_soon"],
                        received=totals["received"],
                        resolved=totals["resolved"],
                        late=totals["late"],
                        spark=spark_total,
                        at=now,
                    )
                ),
            )
        )
    by_code = {u["code"]: u for u in units}
    wards = [u for u in units if u["kind"] in ("ward", "commune")]
    picks = [queue_unit] + [u["code"] for u in rng.sample(wards, 11)]
    alert_specs = (
        (
            "critical",
            "firing",
            2,
            "Hồ sơ quá hạn đã leo thang lên lãnh đạo Thành phố",
            "Overdue item escalated to city leadership",
        ),
        (
            "critical",
            "firing",
            0,
            "Số hồ sơ quá hạn vượt ngưỡng (14 hồ sơ)",
            "Overdue count above threshold (14 items)",
        ),
        (
            "critical",
            "acknowledged",
            1,
            "Tỷ lệ đúng hạn dưới 70% trong ngày",
            "On-time rate below 70% today",
        ),
        (
            "warning",
            "firing",
            1,
            "Hồ sơ quá hạn: cống thoát nước bị tắc",
            "Item overdue: blocked drain",
        ),
        (
            "warning",
            "firing",
            0,
            "Lượng phản ánh tăng đột biến (gấp 3 lần bình thường)",
            "Surge of feedback (3x baseline)",
        ),
        (
            "warning",
            "acknowledged",
            0,
            "Thời gian xử lý p90 vượt thời hạn quy định",
            "p90 handling time above the SLA",
        ),
        (
            "warning",
            "firing",
            0,
            "Hồ sơ sắp đến hạn: còn dưới 1 ngày làm việc",
            "Item due soon: under 1 working day left",
        ),
        ("info", "firing", 0, "Hồ sơ sắp đến hạn", "Item due soon"),
        ("info", "resolved", 0, "Hồ sơ quá hạn đã được giải quyết", "Overdue item resolved"),
        ("warning", "firing", 0, "Hàng đợi vượt 40 hồ sơ đang mở", "Queue above 40 open items"),
        (
            "critical",
            "firing",
            1,
            "Hồ sơ khẩn quá hạn: hố ga mất nắp",
            "Urgent item overdue: missing manhole cover",
        ),
        ("info", "acknowledged", 0, "Hồ sơ sắp đến hạn", "Item due soon"),
    )
    for index, (severity, state, escalation, title_vi, title_en) in enumerate(alert_specs):
        code = picks[index % len(picks)]
        explanations: list[dict[str, Any]] = []
        if index in (0, 3):
            explanations.append(
                {
                    "kind": "request",
                    "by": "leader:pho-chu-tich",
                    "at": now - 1800,
                    "text": "Đề nghị đơn vị báo cáo nguyên nhân chậm xử lý và thời hạn hoàn thành.",
                }
            )
        if index == 3:
            explanations.append(
                {
                    "kind": "answer",
                    "by": f"unit:{code}",
                    "at": now - 600,
                    "text": "Đơn vị đã phối hợp với công ty thoát nước, dự kiến hoàn thành trong 2 ngày.",
                }
            )
        unit = by_code[code]
        data = alert_json(
            f"fp-{index:02d}",
            code,
            severity=severity,
            state=state,
            title_vi=title_vi,
            title_en=title_en,
            at=now - 300 * (index + 1),
            escalation=escalation,
            explanations=explanations,
            item_id=f"PA-2025-{1200 + index:06d}" if index in (0, 3, 6, 7, 10) else None,
            unit_name_vi=unit["name_vi"],
        )
        data["unit_name_en"] = unit["name_en"]
        if state == "acknowledged":
            data["acked_by"], data["acked_at"] = "leader:chanh-van-phong", now - 200
        changes.append(Change("alert", data["fingerprint"], code, orjson.dumps(data)))
    overdue = due_soon = 0
    for index in range(15):
        due = now + rng.uniform(-2.5, 5.0) * 86400 if index > 1 else now + (index + 1) * 3600 * 5
        overdue_at = due if due < now else None
        soon = overdue_at is None and due - now < 86400
        overdue += overdue_at is not None
        due_soon += soon
        data = queue_json(
            f"PA-2025-{3400 + index:06d}",
            queue_unit,
            title=_TITLES[index % len(_TITLES)],
            due=due,
            category=_CATEGORIES[index % len(_CATEGORIES)],
            priority="urgent" if index % 6 == 0 else "normal",
            due_soon=overdue_at is not None or soon,
            overdue_at=overdue_at,
        )
        changes.append(Change("queue", data["id"], queue_unit, orjson.dumps(data)))
    # The queue unit's own gauges agree with its queue.
    home = by_code[queue_unit]
    changes.append(
        Change(
            "unit",
            queue_unit,
            queue_unit,
            orjson.dumps(
                unit_json(
                    queue_unit,
                    name_vi=home["name_vi"],
                    name_en=home["name_en"],
                    kind=home["kind"],
                    colour="orange",
                    overdue=overdue,
                    open_=15,
                    due_soon=due_soon,
                    received=9,
                    resolved=12,
                    late=2,
                    at=now,
                )
            ),
        )
    )
    return changes
