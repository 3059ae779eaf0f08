"""A seeded, realistic model of the city's traffic: feedback items and leadership tasks.

Pure: no I/O and no global randomness. :meth:`Traffic.messages` yields :class:`Message`
objects lazily, in ``occurred_at`` order, from a start instant for a bounded time or
forever. The same seed and configuration always give the same messages (event ids
included).

How the traffic looks:

* Feedback arrives around the clock with a daily rhythm (quiet at night, peaks in the
  morning and afternoon office hours), fewer on weekends and holidays (the
  :class:`~domain.calendar.WorkCalendar` decides), spread over wards and communes by the
  catalog's ``weight`` field, and over departments by category.
* Each item lives a plausible life: received → assigned → (transferred) → accepted →
  (paused/resumed, extended) → progress → resolved (sometimes reopened) or cancelled.
  Officials act in office hours (working time on the city calendar); urgent items are
  handled around the clock. How long a unit takes is drawn relative to the item's
  deadline (from :meth:`domain.sla.SlaPolicy.plan`), and about one unit in ten is
  consistently slow, so it breaches often.
* Leadership tasks (``NV-…``) carry an explicit ``due_at`` and go to ``gov.tasks``.
* A small, configurable share of titles carry hostile markup, and ``invalid_rate`` adds
  malformed messages and impossible transitions, to demonstrate that the board renders
  text as text and that bad input is dead-lettered. Both draw from their own random
  streams, so turning them on does not change the rest of the traffic.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog, Unit
from domain.errors import ConfigError
from domain.events import Event, EventType, Priority, WorkMode
from domain.items import ItemKind
from domain.sla import ClockKind, SlaPolicy, UnitClock

#: The item kinds, by the short names the simulator's modules use.
FEEDBACK, TASK = ItemKind.FEEDBACK, ItemKind.TASK

_DAY = 86400.0
_HOUR = 3600.0
_EPOCH = date(1970, 1, 1)

# fmt: off
#: Relative arrival intensity of citizen feedback per local hour (0..23).
FEEDBACK_RHYTHM: tuple[float, ...] = (
    0.15, 0.08, 0.05, 0.05, 0.07, 0.2, 0.5, 1.1, 1.8, 2.0, 1.9, 1.6,
    1.0, 1.3, 1.7, 1.8, 1.6, 1.3, 1.0, 0.9, 0.8, 0.6, 0.4, 0.25,
)
# fmt: on
# fmt: off
#: Relative intensity of leadership tasks per local hour (office hours only).
TASK_RHYTHM: tuple[float, ...] = (
    0, 0, 0, 0, 0, 0, 0, 0.3, 1.5, 2.0, 2.0, 1.0,
    0, 0.5, 1.5, 2.0, 1.5, 0.5, 0, 0, 0, 0, 0, 0,
)
# fmt: on

#: Share of feedback per category; categories of the SLA file not listed get ``0.02``.
CATEGORY_MIX: Mapping[str, float] = {
    "trat-tu-do-thi": 0.22,
    "moi-truong": 0.20,
    "giao-thong": 0.14,
    "xay-dung": 0.10,
    "dat-dai": 0.07,
    "an-ninh-trat-tu": 0.07,
    "dien-nuoc": 0.07,
    "thu-tuc-hanh-chinh": 0.05,
    "y-te": 0.04,
    "giao-duc": 0.03,
}
#: Category used for leadership tasks (not drawn for feedback).
TASK_CATEGORY = "nhiem-vu"

CHANNELS: Mapping[str, float] = {
    "Tổng đài 1022": 0.35,
    "Zalo": 0.25,
    "Ứng dụng Công dân số": 0.20,
    "Cổng thông tin 1022": 0.15,
    "Trực tiếp": 0.05,
}

#: Departments that handle a category when feedback goes to a department (if present).
DEPARTMENTS_FOR: Mapping[str, tuple[str, ...]] = {
    "moi-truong": ("SO-NONG-NGHIEP-VA-MOI-TRUONG", "SO-TAI-NGUYEN-VA-MOI-TRUONG"),
    "dat-dai": ("SO-NONG-NGHIEP-VA-MOI-TRUONG", "SO-TAI-NGUYEN-VA-MOI-TRUONG"),
    "xay-dung": ("SO-XAY-DUNG", "SO-QUY-HOACH-KIEN-TRUC"),
    "giao-thong": ("SO-XAY-DUNG", "SO-GIAO-THONG-VAN-TAI"),
    "trat-tu-do-thi": ("SO-XAY-DUNG",),
    "an-ninh-trat-tu": ("CONG-AN-TP",),
    "y-te": ("SO-Y-TE", "SO-AN-TOAN-THUC-PHAM"),
    "giao-duc": ("SO-GIAO-DUC-VA-DAO-TAO",),
    "dien-nuoc": ("SO-CONG-THUONG",),
    "thu-tuc-hanh-chinh": ("SO-NOI-VU", "SO-TU-PHAP"),
}

LEADERS: tuple[str, ...] = (
    "Chủ tịch UBND Thành phố",
    "Phó Chủ tịch Thường trực UBND Thành phố",
    "Phó Chủ tịch UBND Thành phố phụ trách đô thị",
    "Phó Chủ tịch UBND Thành phố phụ trách kinh tế",
    "Phó Chủ tịch UBND Thành phố phụ trách văn hóa – xã hội",
    "Phó Chủ tịch UBND Thành phố phụ trách nội chính",
)

#: Markup that a careless page would execute; the board must show it as text.
HOSTILE_MARKUP: tuple[str, ...] = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    '<a href="javascript:alert(1)">xem chi tiết</a>',
    "<iframe src=//example.invalid></iframe>",
    "{{constructor.constructor('alert(1)')()}}",
)

# fmt: off
STREETS: tuple[str, ...] = (
    "Nguyễn Trãi", "Lê Lợi", "Nguyễn Huệ", "Điện Biên Phủ", "Cách Mạng Tháng Tám",
    "Võ Văn Kiệt", "Phạm Văn Đồng", "Quang Trung", "Lê Văn Sỹ", "Hai Bà Trưng",
    "Nguyễn Văn Linh", "Xa lộ Hà Nội", "Kinh Dương Vương", "Lũy Bán Bích", "Âu Cơ",
    "Trường Chinh", "Cộng Hòa", "Hoàng Văn Thụ", "Nguyễn Kiệm", "Phan Văn Trị",
    "Lê Đức Thọ", "Tô Ký", "Nguyễn Ảnh Thủ", "Tỉnh lộ 10", "Đại lộ Bình Dương",
    "Nguyễn Văn Tiết", "Thùy Vân", "Ba Cu", "Hùng Vương", "Trần Hưng Đạo",
    "Nguyễn Thị Minh Khai", "Võ Thị Sáu", "Nam Kỳ Khởi Nghĩa", "Huỳnh Tấn Phát", "Lê Văn Việt",
    "Kha Vạn Cân", "Nguyễn Duy Trinh", "Tân Sơn Nhì", "Bùi Thị Xuân", "Phan Đăng Lưu",
    "Nơ Trang Long", "Tỉnh lộ 15", "Quốc lộ 22", "Quốc lộ 51",
)
# fmt: on
# fmt: off
PLACES: tuple[str, ...] = (
    "chợ Bến Thành", "công viên Lê Thị Riêng", "kênh Nhiêu Lộc – Thị Nghè", "cầu Chữ Y",
    "bến xe Miền Tây", "khu công nghiệp VSIP", "bãi Sau", "chợ Bình Tây",
    "công viên Gia Định", "khu dân cư Trung Sơn", "chung cư cũ", "trường tiểu học gần nhà",
    "ngã tư Hàng Xanh", "vòng xoay Phú Lâm", "kênh Tàu Hủ", "chợ Bà Chiểu",
    "khu tái định cư", "bến phà Bình Khánh",
)
# fmt: on

TITLES: Mapping[str, tuple[str, ...]] = {
    "moi-truong": (
        "Rác thải tồn đọng nhiều ngày tại hẻm {hem} {street}",
        "Khói bụi, mùi hôi từ cơ sở sản xuất trên đường {street}",
        "Nước thải chảy tràn ra lòng đường {street}",
        "Đốt rác gây ô nhiễm gần {place}",
        "Tiếng ồn từ quán karaoke tại số {number} {street} sau 22 giờ",
    ),
    "trat-tu-do-thi": (
        "Lấn chiếm vỉa hè kinh doanh trên đường {street}",
        "Xe máy đậu tràn lòng đường trước số {number} {street}",
        "Bảng quảng cáo sai phép tại giao lộ {street} – {street2}",
        "Họp chợ tự phát tại đầu hẻm {hem} {street}",
        "Dây điện, cáp viễn thông giăng chằng chịt tại hẻm {hem} {street}",
    ),
    "giao-thong": (
        "Ổ gà lớn trên đường {street} gây nguy hiểm",
        "Đèn tín hiệu giao thông hỏng tại giao lộ {street} – {street2}",
        "Ngập nước sau mưa tại đoạn đường {street}",
        "Kẹt xe kéo dài giờ cao điểm tại nút giao {street} – {street2}",
        "Nắp cống bị mất trước số {number} {street}",
    ),
    "dat-dai": (
        "Tranh chấp ranh giới đất tại hẻm {hem} {street}",
        "Chậm cấp giấy chứng nhận quyền sử dụng đất, hồ sơ số {number}",
        "Lấn chiếm đất công gần {place}",
        "Bồi thường, hỗ trợ tái định cư chưa thỏa đáng tại dự án trên đường {street}",
    ),
    "xay-dung": (
        "Công trình xây dựng không phép tại số {number} {street}",
        "Công trình thi công gây nứt nhà liền kề trong hẻm {hem} {street}",
        "Vật liệu xây dựng tập kết trên lòng đường {street}",
        "Cơi nới, lấn chiếm hẻm {hem} {street}",
    ),
    "an-ninh-trat-tu": (
        "Tụ tập đông người gây mất trật tự về đêm tại hẻm {hem} {street}",
        "Nghi có hoạt động cờ bạc tại quán cà phê trên đường {street}",
        "Trộm cắp xe máy xảy ra nhiều lần gần {place}",
        "Đua xe trái phép trên đường {street} vào ban đêm",
    ),
    "y-te": (
        "Phòng khám tư nhân hoạt động không phép trên đường {street}",
        "Cơ sở kinh doanh thực phẩm không bảo đảm vệ sinh gần {place}",
        "Phản ánh thái độ phục vụ tại trạm y tế {unit}",
        "Nhiều ca sốt xuất huyết trong hẻm {hem} {street}, đề nghị phun thuốc",
    ),
    "giao-duc": (
        "Trường học thu các khoản ngoài quy định tại {unit}",
        "Thiếu chỗ học lớp 1 cho trẻ trên địa bàn {unit}",
        "Cơ sở giữ trẻ tự phát hoạt động không phép trên đường {street}",
    ),
    "dien-nuoc": (
        "Mất nước sinh hoạt kéo dài tại hẻm {hem} {street}",
        "Cúp điện không báo trước gần {place}",
        "Đường ống cấp nước bị vỡ trên đường {street}",
        "Nước máy có mùi lạ, màu đục tại số {number} {street}",
    ),
    "thu-tuc-hanh-chinh": (
        "Hồ sơ đăng ký hộ kinh doanh quá hạn chưa trả kết quả tại {unit}",
        "Chậm giải quyết thủ tục chứng thực tại {unit}",
        "Yêu cầu bổ sung giấy tờ nhiều lần khi làm thủ tục cấp phép xây dựng",
        "Hẹn trả kết quả hồ sơ số {number} nhiều lần nhưng chưa có",
    ),
}
DEFAULT_TITLES: tuple[str, ...] = (
    "Kiến nghị về tình trạng xuống cấp gần {place}",
    "Đề nghị kiểm tra, xử lý vi phạm tại số {number} {street}",
    "Phản ánh về việc giải quyết kiến nghị chưa dứt điểm tại {unit}",
)
TASK_TITLES: tuple[str, ...] = (
    "Báo cáo tiến độ giải ngân vốn đầu tư công quý {quarter}",
    "Rà soát, xử lý dứt điểm các điểm ngập trên địa bàn",
    "Triển khai chiến dịch vệ sinh môi trường, chỉnh trang đô thị",
    "Tổng hợp kiến nghị của cử tri trước kỳ họp HĐND Thành phố",
    "Đề xuất phương án sử dụng trụ sở dôi dư sau sắp xếp",
    "Kiểm tra, xử lý công trình xây dựng sai phép trên địa bàn",
    "Báo cáo kết quả thực hiện chỉ tiêu thu ngân sách tháng {month}",
    "Hoàn thành số hóa hồ sơ thủ tục hành chính còn tồn đọng",
    "Xây dựng kế hoạch phòng, chống sốt xuất huyết mùa mưa",
    "Giải quyết dứt điểm phản ánh tồn đọng quá hạn trên Cổng 1022",
    "Báo cáo tình hình trật tự lòng đường, vỉa hè trên các tuyến trọng điểm",
)

_NOTES: Mapping[EventType, tuple[str, ...]] = {
    EventType.EXTENDED: ("Gia hạn do cần xác minh thêm", "Cần phối hợp liên ngành, xin gia hạn"),
    EventType.PAUSED: ("Chờ công dân bổ sung thông tin", "Chờ kết quả giám định"),
    EventType.RESUMED: ("Đã nhận đủ thông tin, tiếp tục xử lý",),
    EventType.RESOLVED: (
        "Đã xử lý xong, thông báo kết quả cho công dân",
        "Đã kiểm tra, xử lý vi phạm",
    ),
    EventType.REOPENED: ("Công dân chưa hài lòng với kết quả giải quyết",),
    EventType.CANCELLED: (
        "Phản ánh trùng lặp",
        "Công dân rút phản ánh",
        "Không thuộc thẩm quyền, đã hướng dẫn",
    ),
    EventType.TRANSFERRED: ("Chuyển đơn vị có thẩm quyền xử lý",),
    EventType.PROGRESS: ("Đã kiểm tra hiện trường", "Đang phối hợp xử lý", "Đã lập biên bản"),
}

#: Kinds of deliberately invalid messages (``invalid_rate``). The first four fail
# fmt: off
#: parsing; the last three are valid events that no item state allows.
FLAWS: tuple[str, ...] = (
    "bad_json", "missing_field", "unknown_type", "bad_instant",
    "unknown_unit", "duplicate_receive", "orphan_event",
)
# fmt: on
UNKNOWN_UNIT = "P-KHONG-TON-TAI"

_LOCAL_KINDS = frozenset({"ward", "commune", "special_zone"})


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    """Knobs of the traffic model. Shares are probabilities per item.

    Args:
        seed: everything random derives from it (event ids included).
        items_per_day: feedback items per working day, whole city.
        tasks_per_day: leadership tasks per working day, whole city.
        off_day_factor: arrival intensity on weekends and holidays, relative to working days.
        urgent_share: share of urgent feedback (handled around the clock, hours-long SLA).
        department_share: share of feedback received directly by a department.
        assign_share: share of items with an explicit ``assigned`` step.
        accept_share: share of items with an ``accepted`` step.
        transfer_share: share of items transferred to another unit.
        extension_share: share of items whose deadline is extended.
        late_extension_share: of those, the share granted after the deadline passed
            (a new appointment; the item stays late).
        pause_share: share of items paused (waiting for the citizen), later resumed.
        reopen_share: share of resolved items reopened by the citizen.
        cancel_share: share of items cancelled.
        slow_unit_share: share of units that are consistently slow.
        hostile_rate: share of titles carrying hostile markup.
        invalid_rate: probability, per valid message, of adding a deliberately invalid one.
    """

    seed: int = 2026
    items_per_day: float = 3000.0
    tasks_per_day: float = 25.0
    off_day_factor: float = 0.35
    urgent_share: float = 0.05
    department_share: float = 0.15
    assign_share: float = 0.8
    accept_share: float = 0.9
    transfer_share: float = 0.10
    extension_share: float = 0.06
    late_extension_share: float = 0.25
    pause_share: float = 0.05
    reopen_share: float = 0.03
    cancel_share: float = 0.02
    slow_unit_share: float = 0.10
    hostile_rate: float = 0.002
    invalid_rate: float = 0.0
    #: Give received, assigned and transferred events a work mode and an assignee (the
    #: work-from-home pilot). Drawn from their own random stream per item, so turning it
    #: on changes no other draw.
    work_modes: bool = False

    def __post_init__(self) -> None:
        for name in (
            "off_day_factor",
            "urgent_share",
            "department_share",
            "assign_share",
            "accept_share",
            "transfer_share",
            "extension_share",
            "late_extension_share",
            "pause_share",
            "reopen_share",
            "cancel_share",
            "slow_unit_share",
            "hostile_rate",
            "invalid_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"simulator {name}={value} must be between 0 and 1")
        if self.items_per_day < 0 or self.tasks_per_day < 0:
            raise ConfigError("simulator items_per_day and tasks_per_day must be >= 0")
        if self.items_per_day == 0 and self.tasks_per_day == 0:
            raise ConfigError("simulator needs items_per_day > 0 or tasks_per_day > 0")
        if self.extension_share + self.pause_share > 1.0:
            raise ConfigError("simulator extension_share + pause_share must be <= 1")


@dataclass(frozen=True, slots=True)
class Message:
    """One message for a topic: a valid event, or a deliberately invalid one.

    Attributes:
        kind: ``feedback`` (topic ``gov.feedback``) or ``task`` (``gov.tasks``).
        item_id: the Kafka key.
        occurred_at: event time (epoch seconds); messages come in this order.
        event: the event; ``None`` only for messages that do not parse.
        raw: the exact bytes of a malformed message (``None``: encode ``event``).
        flaw: for deliberately invalid messages, which :data:`FLAWS` entry it is.
    """

    kind: ItemKind
    item_id: str
    occurred_at: float
    event: Event | None
    raw: bytes | None = None
    flaw: str | None = None

    @property
    def key(self) -> bytes:
        return self.item_id.encode()

    @property
    def value(self) -> bytes:
        """The message bytes as a producer puts them on the topic."""
        if self.raw is not None:
            return self.raw
        assert self.event is not None
        return self.event.encode()


def load_weights(path: Path) -> dict[str, float]:
    """Read the optional per-unit ``weight`` field of a catalog file (missing = 1).

    Raises:
        ConfigError: the file is unreadable or a weight is not a number >= 0.
    """
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"unit catalog {path}: {exc}") from None
    weights: dict[str, float] = {}
    for entry in data.get("units", []) if isinstance(data, dict) else []:
        if not isinstance(entry, dict) or "weight" not in entry:
            continue
        value = entry["weight"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"unit catalog {path}: weight of {entry.get('code')!r} must be a number >= 0")
        weights[str(entry.get("code"))] = float(value)
    return weights


def expand_catalog(
    catalog: Catalog, weights: Mapping[str, float], *, units: int
) -> tuple[Catalog, dict[str, float]]:
    """Pad ``catalog`` with synthetic wards (``P-SIM-0001`` …) until it has ``units`` units.

    For benchmarks that need more units than the real catalog has. The worker must be
    given the same catalog (see :func:`catalog_document`), or it dead-letters them.
    """
    members = list(catalog)
    padded = dict(weights)
    number = 0
    while len(members) < units:
        number += 1
        code = f"P-SIM-{number:04d}"
        if code in catalog:
            continue
        members.append(
            Unit(code, f"Phường mô phỏng {number}", f"Simulated Ward {number}", "ward", catalog.root)
        )
        padded[code] = 1.0
    return Catalog(members, name=catalog.name), padded


def catalog_document(catalog: Catalog, weights: Mapping[str, float]) -> dict[str, Any]:
    """A catalog JSON document (``GOVPULSE_UNITS_FILE`` format) with weights."""
    units: list[dict[str, Any]] = []
    for unit in catalog:
        entry: dict[str, Any] = dict(unit.to_json())
        if unit.code in weights:
            entry["weight"] = weights[unit.code]
        units.append(entry)
    return {"name": catalog.name, "units": units}


class WorkingTime:
    """Working time of a calendar as a cumulative function, for placing officials' actions.

    ``between``/``add`` agree with :meth:`WorkCalendar.working_seconds_between` and
    :meth:`WorkCalendar.add_working_seconds` but answer in O(log days) from a cache,
    which keeps generating hundreds of thousands of events fast.
    """

    def __init__(self, calendar: WorkCalendar, origin: float) -> None:
        self.calendar = calendar
        offset = datetime.fromtimestamp(origin, LOCAL_TZ).utcoffset()
        assert offset is not None
        # Asia/Ho_Chi_Minh has no daylight saving, so one offset maps instants to days.
        self.offset = offset.total_seconds()
        self._sessions_of_day = [
            (_clock_seconds(start), _clock_seconds(end)) for start, end in calendar.office_hours.sessions
        ]
        self._first = self.day_index(origin) - 1
        self._cum: list[float] = [0.0]
        self._sessions: list[tuple[tuple[float, float], ...]] = []
        self._working: dict[int, bool] = {}

    def day_index(self, at: float) -> int:
        """Local day number (days since 1970-01-01 local) of the instant ``at``."""
        return int((at + self.offset) // _DAY)

    def is_working_day(self, day: int) -> bool:
        """Whether local day number ``day`` is a working day of the calendar."""
        working = self._working.get(day)
        if working is None:
            working = self._working[day] = self.calendar.is_working_day(_EPOCH + timedelta(days=day))
        return working

    def _extend(self) -> None:
        day = self._first + len(self._sessions)
        midnight = day * _DAY - self.offset
        if self.is_working_day(day):
            sessions = tuple((midnight + lo, midnight + hi) for lo, hi in self._sessions_of_day)
        else:
            sessions = ()
        self._sessions.append(sessions)
        self._cum.append(self._cum[-1] + sum(hi - lo for lo, hi in sessions))

    def cumulative(self, at: float) -> float:
        """Working seconds from the cache origin to ``at``."""
        index = self.day_index(at) - self._first
        if index < 0:
            raise ValueError("instant before the simulation start")
        while index >= len(self._sessions):
            self._extend()
        total = self._cum[index]
        for lo, hi in self._sessions[index]:
            if at >= hi:
                total += hi - lo
            elif at > lo:
                total += at - lo
        return total

    def between(self, start: float, end: float) -> float:
        """Working seconds between two instants."""
        if end <= start:
            return 0.0
        return self.cumulative(end) - self.cumulative(start)

    def add(self, start: float, seconds: float) -> float:
        """The instant at which ``seconds`` of working time have passed since ``start``."""
        if seconds <= 0:
            return start
        target = self.cumulative(start) + seconds
        while self._cum[-1] < target:
            self._extend()
        index = bisect_left(self._cum, target) - 1
        remaining = target - self._cum[index]
        for lo, hi in self._sessions[index]:
            if hi - lo >= remaining:
                return max(lo + remaining, start)
            remaining -= hi - lo
        return self._sessions[index][-1][1]  # pragma: no cover - float rounding only


@dataclass(slots=True)
class _Plan:
    """One item's planned life: the events still to emit."""

    kind: ItemKind
    item_id: str
    steps: list[tuple[float, EventType, dict[str, Any]]]
    index: int = 0


@dataclass(slots=True)
class _Arrival:
    kind: ItemKind


@dataclass(slots=True)
class _Pickers:
    """Cumulative weight tables for fast weighted choice."""

    values: list[str]
    cum: list[float]

    @classmethod
    def build(cls, weighted: Mapping[str, float]) -> _Pickers:
        values = [key for key, weight in weighted.items() if weight > 0]
        cum: list[float] = []
        total = 0.0
        for key in values:
            total += weighted[key]
            cum.append(total)
        return cls(values, cum)

    def pick(self, rng: random.Random) -> str:
        return self.values[bisect_left(self.cum, rng.random() * self.cum[-1])]

    def __bool__(self) -> bool:
        return bool(self.values)


@dataclass(slots=True)
class _Counters:
    feedback: dict[int, int] = field(default_factory=dict)
    tasks: dict[int, int] = field(default_factory=dict)
    invalid: int = 0


class Traffic:
    """The traffic model over one catalog, SLA policy and calendar.

    Args:
        catalog: units items go to (wards, communes, special zone, departments).
        sla: default deadlines per category (``nhiem-vu`` is used for tasks).
        calendar: working days and office hours.
        config: the knobs; see :class:`TrafficConfig`.
        weights: relative volume per unit code (from :func:`load_weights`); missing = 1.
    """

    def __init__(
        self,
        catalog: Catalog,
        sla: SlaPolicy,
        calendar: WorkCalendar,
        *,
        config: TrafficConfig | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.catalog = catalog
        self.sla = sla
        self.calendar = calendar
        self.config = config or TrafficConfig()
        weights = dict(weights or {})
        self.weights: Mapping[str, float] = weights
        handling = [unit for unit in catalog if unit.code != catalog.root and not catalog.children(unit.code)]
        local = [unit for unit in handling if unit.kind in _LOCAL_KINDS]
        departments = [unit for unit in handling if unit.kind == "department"]
        if not local:
            local = [unit for unit in handling if unit.kind != "department"] or handling
        if not local:
            raise ConfigError("the unit catalog has no unit that can handle items (a leaf below the root)")
        self.local_units: tuple[str, ...] = tuple(unit.code for unit in local)
        self.department_units: tuple[str, ...] = tuple(unit.code for unit in departments)
        self._local = _Pickers.build({code: weights.get(code, 1.0) for code in self.local_units})
        self._local_set = frozenset(self.local_units)
        self._departments = _Pickers.build({code: weights.get(code, 1.0) for code in self.department_units})
        if not self._local:
            raise ConfigError("every ward/commune of the unit catalog has weight 0")
        self._by_category = {
            category: _Pickers.build(
                {code: weights.get(code, 1.0) for code in codes if code in self.department_units}
            )
            for category, codes in DEPARTMENTS_FOR.items()
        }
        mix = {code: CATEGORY_MIX.get(code, 0.02) for code in sla.categories if code != TASK_CATEGORY}
        if not mix:
            mix = {"khac": 1.0}
        self._categories = _Pickers.build(mix)
        self._channels = _Pickers.build(CHANNELS)
        units = sorted(self.local_units + self.department_units)
        chooser = random.Random(f"{self.config.seed}:slow-units")
        count = round(len(units) * self.config.slow_unit_share)
        self.slow_units: frozenset[str] = frozenset(chooser.sample(units, count))
        # Each unit has its own typical share of the allowed time it takes.
        self.unit_pace: dict[str, float] = {
            code: chooser.uniform(0.95, 1.3) if code in self.slow_units else chooser.uniform(0.3, 0.6)
            for code in units
        }
        self._names = {unit.code: unit.name_vi for unit in catalog}
        self._plan_cache: dict[tuple[int, str], float] = {}
        self.day_seconds = calendar.office_hours.seconds_per_day

    # -- public -----------------------------------------------------------------------

    def messages(self, start: float, *, until: float | None = None) -> Iterator[Message]:
        """Yield messages in ``occurred_at`` order, from ``start`` until ``until`` (or forever).

        Items still open at ``until`` simply stop: their later events are not emitted.
        """
        config = self.config
        rng = random.Random(config.seed)
        hostile = random.Random(f"{config.seed}:hostile")
        invalid = random.Random(f"{config.seed}:invalid")
        work = WorkingTime(self.calendar, start)
        counters = _Counters()
        heap: list[tuple[float, int, _Plan | _Arrival]] = []
        sequence = 0

        def push(at: float, entry: _Plan | _Arrival) -> None:
            nonlocal sequence
            sequence += 1
            heapq.heappush(heap, (at, sequence, entry))

        arrivals = {
            FEEDBACK: _ArrivalProcess(config.items_per_day, FEEDBACK_RHYTHM, config.off_day_factor, work),
            TASK: _ArrivalProcess(config.tasks_per_day, TASK_RHYTHM, 0.0, work),
        }
        for kind, process in arrivals.items():
            first = process.next(start, rng)
            if first is not None:
                push(first, _Arrival(kind))

        while heap:
            at, _, entry = heapq.heappop(heap)
            if until is not None and at >= until:
                return
            if isinstance(entry, _Arrival):
                if entry.kind == FEEDBACK:
                    plan = self._plan_feedback(at, rng, hostile, work, counters)
                else:
                    plan = self._plan_task(at, rng, hostile, work, counters)
                push(at, plan)
                following = arrivals[entry.kind].next(at, rng)
                if following is not None:
                    push(following, entry)
                continue
            step_at, step_type, fields = entry.steps[entry.index]
            step_at = round(step_at, 3)  # arrivals are not rounded yet; see _Timeline.at
            entry.index += 1
            if entry.index < len(entry.steps):
                push(entry.steps[entry.index][0], entry)
            event = Event(
                event_id=f"sim{config.seed}-{entry.item_id}-{entry.index:02d}",
                item_id=entry.item_id,
                type=step_type,
                occurred_at=step_at,
                **fields,
            )
            message = Message(entry.kind, entry.item_id, step_at, event)
            yield message
            if config.invalid_rate and invalid.random() < config.invalid_rate:
                counters.invalid += 1
                yield _flawed(message, invalid, config.seed, counters.invalid)

    def is_slow(self, unit: str) -> bool:
        """Whether ``unit`` is one of the consistently slow units."""
        return unit in self.slow_units

    # -- planning ---------------------------------------------------------------------

    def _due(self, at: float, category: str, priority: Priority, work: WorkingTime) -> tuple[float, bool]:
        """Deadline of a period starting at ``at`` and whether it runs on working time."""
        if priority is Priority.URGENT:
            plan = self.sla.plan(self.calendar, start=at, category=category, priority=priority)
            return plan.due, plan.clock == ClockKind.WORKING
        # Normal deadlines depend only on the local date: cache them per day.
        key = (work.day_index(at), category)
        due = self._plan_cache.get(key)
        if due is None:
            plan = self.sla.plan(self.calendar, start=at, category=category, priority=priority)
            due = self._plan_cache[key] = plan.due
        return due, True

    def _pick_unit(self, rng: random.Random, category: str) -> str:
        if self._departments and rng.random() < self.config.department_share:
            picker = self._by_category.get(category)
            if picker:
                return picker.pick(rng)
            return self._departments.pick(rng)
        return self._local.pick(rng)

    def _transfer_target(self, rng: random.Random, source: str, category: str) -> str | None:
        for _ in range(8):
            if source in self.department_units or not self._departments or rng.random() < 0.6:
                target = self._local.pick(rng)
            else:
                picker = self._by_category.get(category)
                target = picker.pick(rng) if picker else self._departments.pick(rng)
            if target != source:
                return target
        return None

    def _speed(self, rng: random.Random, unit: str) -> float:
        pace = self.unit_pace.get(unit, 0.45)
        sigma = 0.35 if unit in self.slow_units else 0.5
        return pace * math.exp(rng.gauss(0.0, sigma))

    def _title(self, rng: random.Random, hostile: random.Random, templates: Sequence[str], unit: str) -> str:
        template = templates[int(rng.random() * len(templates))]
        name = self._names.get(unit, unit)
        street = STREETS[int(rng.random() * len(STREETS))]
        text = template.format(
            hem=f"{rng.randint(1, 999)}" + (f"/{rng.randint(1, 60)}" if rng.random() < 0.5 else ""),
            street=street,
            street2=STREETS[int(rng.random() * len(STREETS))],
            place=PLACES[int(rng.random() * len(PLACES))],
            number=rng.randint(1, 999),
            unit=name,
            quarter=rng.randint(1, 4),
            month=rng.randint(1, 12),
        )
        if unit in self._local_set and "{unit}" not in template:
            text = f"{text}, {name}"
        if self.config.hostile_rate and hostile.random() < self.config.hostile_rate:
            text = f"{text} {HOSTILE_MARKUP[int(hostile.random() * len(HOSTILE_MARKUP))]}"
        return text

    def _plan_feedback(
        self,
        t0: float,
        rng: random.Random,
        hostile: random.Random,
        work: WorkingTime,
        counters: _Counters,
    ) -> _Plan:
        config = self.config
        year = _local_year(t0)
        number = counters.feedback[year] = counters.feedback.get(year, 0) + 1
        item_id = f"PA-{year}-{number:06d}"
        category = self._categories.pick(rng)
        urgent = rng.random() < config.urgent_share
        priority = Priority.URGENT if urgent else Priority.NORMAL
        unit = self._pick_unit(rng, category)
        templates = TITLES.get(category, DEFAULT_TITLES)
        title = self._title(rng, hostile, templates, unit)
        due, working = self._due(t0, category, priority, work)
        timeline = _Timeline(work, working, t0)
        steps = timeline.steps
        steps.append(
            (
                t0,
                EventType.RECEIVED,
                {
                    "unit": unit,
                    "category": category,
                    "priority": priority,
                    "title": title,
                    "channel": self._channels.pick(rng),
                },
            )
        )
        pilot = random.Random(f"{config.seed}:{item_id}") if config.work_modes else None
        if pilot is not None:
            steps[-1][2].update(_work_mode(pilot, unit))
        allowed = timeline.span(t0, due)
        handler, unit_start, unit_due = unit, t0, due
        if rng.random() < config.assign_share:
            timeline.add(
                allowed * rng.uniform(0.01, 0.06),
                EventType.ASSIGNED,
                unit=unit,
                **(_work_mode(pilot, unit) if pilot is not None else {}),
            )
        if rng.random() < config.transfer_share:
            target = self._transfer_target(rng, unit, category)
            if target is not None:
                at = timeline.add(
                    allowed * rng.uniform(0.03, 0.2),
                    EventType.TRANSFERRED,
                    unit=target,
                    note=_note(rng, EventType.TRANSFERRED),
                    **(_work_mode(pilot, target) if pilot is not None else {}),
                )
                handler, unit_start = target, at
                level = self.sla.for_category(category)
                if level.unit_clock is UnitClock.RESTART and working:
                    unit_due = max(self._due(at, category, priority, work)[0], due)
        remaining = timeline.span(unit_start, unit_due)
        if rng.random() < config.accept_share:
            timeline.add(remaining * rng.uniform(0.02, 0.1), EventType.ACCEPTED, unit=handler)
        if rng.random() < config.cancel_share:
            timeline.add(
                remaining * rng.uniform(0.05, 0.4),
                EventType.CANCELLED,
                unit=handler,
                note=_note(rng, EventType.CANCELLED),
            )
            return _Plan(FEEDBACK, item_id, steps)

        resolve_at = timeline.after(unit_start, max(remaining * self._speed(rng, handler), 1800.0))
        complication = rng.random()
        if complication < config.extension_share:
            resolve_at = self._extend(
                rng, timeline, handler, t0, due, unit_start, unit_due, resolve_at, urgent=urgent
            )
        elif complication < config.extension_share + config.pause_share:
            resolve_at = self._pause(rng, timeline, handler, resolve_at)
        self._progress(rng, timeline, handler, resolve_at)
        timeline.at(resolve_at, EventType.RESOLVED, unit=handler, note=_note(rng, EventType.RESOLVED))

        if rng.random() < config.reopen_share:
            reopen_at = timeline.add(
                self.day_seconds * rng.uniform(0.5, 8.0),
                EventType.REOPENED,
                unit=handler,
                note=_note(rng, EventType.REOPENED),
            )
            due2, _ = self._due(reopen_at, category, priority, work)
            again = timeline.after(
                reopen_at, max(timeline.span(reopen_at, due2) * self._speed(rng, handler), 1800.0)
            )
            self._progress(rng, timeline, handler, again)
            timeline.at(again, EventType.RESOLVED, unit=handler, note=_note(rng, EventType.RESOLVED))
        return _Plan(FEEDBACK, item_id, steps)

    def _plan_task(
        self,
        t0: float,
        rng: random.Random,
        hostile: random.Random,
        work: WorkingTime,
        counters: _Counters,
    ) -> _Plan:
        year = _local_year(t0)
        number = counters.tasks[year] = counters.tasks.get(year, 0) + 1
        item_id = f"NV-{year}-{number:04d}"
        if self._departments and rng.random() < 0.7:
            unit = self._departments.pick(rng)
        else:
            unit = self._local.pick(rng)
        # Deadline: end of office hours 7..30 days later (a working day).
        days = rng.randint(7, 30)
        day = work.day_index(t0) + days
        while not work.is_working_day(day):
            day += 1
        due = self.calendar.day_close(_EPOCH + timedelta(days=day))
        urgent = rng.random() < 0.1
        timeline = _Timeline(work, True, t0)
        steps = timeline.steps
        steps.append(
            (
                t0,
                EventType.RECEIVED,
                {
                    "unit": unit,
                    "category": TASK_CATEGORY,
                    "priority": Priority.URGENT if urgent else Priority.NORMAL,
                    "title": self._title(rng, hostile, TASK_TITLES, unit),
                    "assigned_by": LEADERS[int(rng.random() * len(LEADERS))],
                    "due_at": due,
                },
            )
        )
        allowed = timeline.span(t0, due)
        timeline.add(allowed * rng.uniform(0.01, 0.05), EventType.ACCEPTED, unit=unit)
        if rng.random() < 0.01:
            timeline.add(
                allowed * rng.uniform(0.05, 0.3),
                EventType.CANCELLED,
                unit=unit,
                note="Nhiệm vụ được điều chỉnh, không tiếp tục thực hiện",
            )
            return _Plan(TASK, item_id, steps)
        resolve_at = timeline.after(t0, max(allowed * self._speed(rng, unit), 3600.0))
        if rng.random() < 0.08:
            resolve_at = self._extend(rng, timeline, unit, t0, due, t0, due, resolve_at, urgent=False)
        for _ in range(rng.randint(1, 3)):
            self._progress(rng, timeline, unit, resolve_at, count=1)
        timeline.at(resolve_at, EventType.RESOLVED, unit=unit, note="Đã hoàn thành, báo cáo kết quả")
        return _Plan(TASK, item_id, steps)

    def _extend(
        self,
        rng: random.Random,
        timeline: _Timeline,
        unit: str,
        t0: float,
        due: float,
        unit_start: float,
        unit_due: float,
        resolve_at: float,
        *,
        urgent: bool,
    ) -> float:
        """Add an extension; return the (new) resolution instant."""
        late = rng.random() < self.config.late_extension_share
        last = timeline.last
        if not late and last < due:
            at = timeline.after(last, timeline.span(last, due) * rng.uniform(0.3, 0.95))
            if at < due:
                new_due = self._later_due(due, rng, urgent=urgent)
                timeline.at(
                    at,
                    EventType.EXTENDED,
                    unit=unit,
                    due_at=new_due,
                    note=_note(rng, EventType.EXTENDED),
                )
                target = max(unit_due, new_due)
                return max(
                    timeline.after(unit_start, timeline.span(unit_start, target) * self._speed(rng, unit)),
                    timeline.after(at, 1800.0),
                )
        # Granted after the deadline passed: only a new appointment, the item stays late.
        at = timeline.after(max(last, due), max(timeline.span(t0, due), 3600.0) * rng.uniform(0.05, 0.3))
        at = max(at, due + 60.0, last + 1.0)
        appointment = self._later_due(at, rng, urgent=urgent)
        timeline.at(
            at,
            EventType.EXTENDED,
            unit=unit,
            due_at=appointment,
            note="Xin lỗi và hẹn lại thời gian giải quyết",
        )
        return timeline.after(at, timeline.span(at, appointment) * rng.uniform(0.3, 1.1) + 60.0)

    def _later_due(self, after: float, rng: random.Random, *, urgent: bool) -> float:
        if urgent:
            return round(after + rng.randint(12, 72) * _HOUR, 3)
        return self.calendar.add_working_days(after, rng.randint(3, 10))

    def _pause(self, rng: random.Random, timeline: _Timeline, unit: str, resolve_at: float) -> float:
        last = timeline.last
        work_left = timeline.span(last, resolve_at)
        paused = timeline.after(last, max(work_left, 600.0) * rng.uniform(0.2, 0.6))
        timeline.at(paused, EventType.PAUSED, unit=unit, note=_note(rng, EventType.PAUSED))
        if timeline.working:
            length = self.day_seconds * rng.uniform(0.5, 5.0)
        else:
            length = rng.uniform(2.0, 24.0) * _HOUR
        resumed = timeline.add(length, EventType.RESUMED, unit=unit, note=_note(rng, EventType.RESUMED))
        left = max(work_left - timeline.span(last, paused), 600.0)
        return timeline.after(resumed, left)

    def _progress(
        self,
        rng: random.Random,
        timeline: _Timeline,
        unit: str,
        before: float,
        *,
        count: int | None = None,
    ) -> None:
        if count is None:
            count = (0, 1, 1, 2)[int(rng.random() * 4)]
        for _ in range(count):
            last = timeline.last
            span = timeline.span(last, before)
            if span <= 120.0:
                return
            at = timeline.after(last, span * rng.uniform(0.2, 0.8))
            if at >= before:
                return
            timeline.at(at, EventType.PROGRESS, unit=unit, note=_note(rng, EventType.PROGRESS))


class _Timeline:
    """Steps of one item, strictly increasing in time, placed on working or clock time."""

    __slots__ = ("last", "steps", "work", "working")

    def __init__(self, work: WorkingTime, working: bool, start: float) -> None:
        self.work = work
        self.working = working
        self.last = start
        self.steps: list[tuple[float, EventType, dict[str, Any]]] = []

    def span(self, start: float, end: float) -> float:
        if self.working:
            return self.work.between(start, end)
        return max(0.0, end - start)

    def after(self, start: float, seconds: float) -> float:
        if self.working:
            return self.work.add(start, seconds)
        return start + max(0.0, seconds)

    def at(self, at: float, kind: EventType, **fields: Any) -> float:
        # Whole milliseconds: the wire format (RFC 3339 with milliseconds) keeps no more.
        at = round(max(at, self.last + 1.0), 3)
        self.last = at
        self.steps.append((at, kind, {k: v for k, v in fields.items() if v is not None}))
        return at

    def add(self, seconds: float, kind: EventType, **fields: Any) -> float:
        return self.at(self.after(self.last, seconds), kind, **fields)


def _work_mode(rng: random.Random, unit: str) -> dict[str, Any]:
    """A work mode (office 60 %, home 30 %, field 10 %) and one of eight staff ids of ``unit``."""
    draw = rng.random()
    mode = WorkMode.OFFICE if draw < 0.6 else WorkMode.HOME if draw < 0.9 else WorkMode.FIELD
    return {"work_mode": mode, "assignee": f"cb-{unit.lower()}-{rng.randrange(8)}"}


class _ArrivalProcess:
    """Non-homogeneous Poisson arrivals by local hour and day type (thinning)."""

    def __init__(self, per_day: float, rhythm: Sequence[float], off_day: float, work: WorkingTime) -> None:
        mean = sum(rhythm) / len(rhythm)
        self.rates = [per_day / _DAY * weight / mean for weight in rhythm] if per_day > 0 else []
        self.off_day = off_day
        self.peak = max(self.rates, default=0.0)
        self.work = work
        self._offset = work.offset

    def next(self, after: float, rng: random.Random) -> float | None:
        if self.peak <= 0:
            return None
        at = after
        while True:
            at += rng.expovariate(self.peak)
            local = at + self._offset
            rate = self.rates[int(local % _DAY // _HOUR)]
            if not self.work.is_working_day(int(local // _DAY)):
                rate *= self.off_day
            if rate > 0 and rng.random() * self.peak < rate:
                return at


def _flawed(message: Message, rng: random.Random, seed: int, number: int) -> Message:
    """A deliberately invalid message next to ``message`` (same key and time)."""
    assert message.event is not None
    flaw = FLAWS[int(rng.random() * len(FLAWS))]
    event_id = f"sim{seed}-bad-{number:06d}"
    base = message.event.to_json()
    base["event_id"] = event_id
    if flaw == "bad_json":
        cut = message.event.encode()
        raw = cut[: max(1, len(cut) // 2)].decode("utf-8", "ignore").encode()
        return Message(message.kind, message.item_id, message.occurred_at, None, raw=raw, flaw=flaw)
    if flaw == "missing_field":
        del base["occurred_at"]
        return Message(
            message.kind,
            message.item_id,
            message.occurred_at,
            None,
            raw=orjson.dumps(base),
            flaw=flaw,
        )
    if flaw == "unknown_type":
        base["type"] = "closed"
        return Message(
            message.kind,
            message.item_id,
            message.occurred_at,
            None,
            raw=orjson.dumps(base),
            flaw=flaw,
        )
    if flaw == "bad_instant":
        local = datetime.fromtimestamp(message.occurred_at, LOCAL_TZ)
        base["occurred_at"] = local.strftime("%d/%m/%Y %H:%M")
        return Message(
            message.kind,
            message.item_id,
            message.occurred_at,
            None,
            raw=orjson.dumps(base),
            flaw=flaw,
        )
    event = message.event
    if flaw == "unknown_unit":
        item_id = f"{message.item_id}-X{number}"
        invalid = Event(
            event_id,
            item_id,
            EventType.RECEIVED,
            event.occurred_at,
            unit=UNKNOWN_UNIT,
            category=event.category,
            title="Phản ánh gửi tới đơn vị không tồn tại",
        )
        return Message(message.kind, item_id, message.occurred_at, invalid, flaw=flaw)
    if flaw == "duplicate_receive":
        invalid = Event(
            event_id,
            event.item_id,
            EventType.RECEIVED,
            event.occurred_at,
            unit=event.unit or "HCM",
            title="Phản ánh được gửi lại lần hai",
        )
        return Message(message.kind, message.item_id, message.occurred_at, invalid, flaw=flaw)
    item_id = f"{message.item_id}-X{number}"
    invalid = Event(event_id, item_id, EventType.ACCEPTED, event.occurred_at, unit=event.unit)
    return Message(message.kind, item_id, message.occurred_at, invalid, flaw="orphan_event")


def _note(rng: random.Random, kind: EventType) -> str:
    notes = _NOTES[kind]
    return notes[int(rng.random() * len(notes))]


def _local_year(at: float) -> int:
    return datetime.fromtimestamp(at, LOCAL_TZ).year


def _clock_seconds(value: Any) -> float:
    return float(value.hour * 3600 + value.minute * 60 + value.second)
