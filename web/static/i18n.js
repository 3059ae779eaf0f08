// Labels of the interface in Vietnamese (default) and English; the choice is remembered in
// localStorage. Names of units and categories are data, not labels: see names.js.

const STORAGE_KEY = "govpulse.lang";

const LABELS = {
  vi: {
    "app.name": "govpulse",
    "wall.title": "Điều hành thực thi · TP. Hồ Chí Minh",
    "leader.title": "Lãnh đạo · Cảnh báo điều hành",
    "unit.title": "Bảng theo dõi đơn vị",
    "lang.toggle": "English",
    "conn.connecting": "Đang kết nối…",
    "conn.live": "Trực tuyến",
    "conn.reconnecting": "Mất kết nối — đang thử lại",
    "conn.unauthorized": "Mã truy cập không hợp lệ hoặc đã hết hạn",
    "conn.forbidden": "Không có quyền xem nội dung này",
    "conn.notoken": "Thiếu mã truy cập (token)",
    "updated": "Cập nhật",
    "never": "chưa có",
    "stale": "DỮ LIỆU CŨ",
    "stale.hint": "Không nhận được dữ liệu mới — số liệu có thể đã cũ",
    "clock": "Giờ hệ thống",
    "kpi.received": "Tiếp nhận hôm nay",
    "kpi.resolved": "Đã giải quyết",
    "kpi.on_time": "Tỷ lệ đúng hạn",
    "kpi.late": "Tỷ lệ trễ hạn",
    "kpi.open": "Đang xử lý",
    "kpi.overdue": "Quá hạn hiện tại",
    "kpi.due_soon": "Sắp đến hạn",
    "kpi.p90": "Thời gian xử lý p90",
    "spark.title": "Tiếp nhận 2 giờ qua (mỗi 5 phút)",
    "tiles.title": "Đơn vị",
    "tiles.overdue": "quá hạn",
    "worst.title": "Đơn vị cần chú ý",
    "worst.on_time": "Tỷ lệ đúng hạn thấp nhất",
    "worst.overdue": "Quá hạn nhiều nhất",
    "worst.none": "Chưa có số liệu",
    "ticker.title": "Cảnh báo mới nhất",
    "ticker.none": "Không có cảnh báo",
    "banner.critical": "CẢNH BÁO NGHIÊM TRỌNG",
    "banner.dismiss": "Đã thấy",
    "severity.critical": "Nghiêm trọng",
    "severity.warning": "Cảnh báo",
    "severity.info": "Thông tin",
    "state.firing": "Đang kích hoạt",
    "state.acknowledged": "Đã tiếp nhận",
    "state.resolved": "Đã kết thúc",
    "escalation": "Cấp leo thang",
    "silenced": "Tạm tắt",
    "sound.enable": "Bật âm thanh",
    "sound.on": "Âm thanh: bật",
    "filter.severity": "Mức độ",
    "filter.state": "Trạng thái",
    "filter.unit": "Đơn vị",
    "filter.unit.placeholder": "Tìm đơn vị…",
    "filter.all": "Tất cả",
    "filter.active": "Chưa kết thúc",
    "filter.escalated": "Chỉ cảnh báo đã leo thang",
    "alerts.priority": "Nghiêm trọng và đã leo thang",
    "alerts.others": "Cảnh báo khác",
    "alerts.none": "Không có cảnh báo phù hợp",
    "alert.opened": "Phát sinh",
    "alert.acked_by": "Tiếp nhận bởi",
    "alert.item": "Hồ sơ",
    "ack": "Xác nhận đã nắm",
    "explain.request": "Yêu cầu giải trình",
    "explain.request.placeholder": "Nội dung yêu cầu đơn vị giải trình…",
    "explain.answer": "Gửi giải trình",
    "explain.answer.placeholder": "Nội dung giải trình của đơn vị…",
    "explain.thread": "Trao đổi giải trình",
    "explain.kind.request": "Yêu cầu",
    "explain.kind.answer": "Giải trình",
    "command.sent": "Đã gửi",
    "command.error.rate_limited": "Thao tác quá nhanh — vui lòng thử lại sau giây lát",
    "command.error.unavailable": "Hệ thống tạm thời không nhận lệnh — vui lòng thử lại",
    "command.error.forbidden": "Không có quyền thực hiện thao tác này",
    "command.error.not_found": "Cảnh báo không còn trên bảng",
    "command.error.offline": "Chưa kết nối — không gửi được",
    "command.error.other": "Không gửi được",
    "unit.counters": "Số liệu hôm nay",
    "unit.queue": "Hồ sơ đang xử lý",
    "unit.queue.none": "Không có hồ sơ đang mở",
    "unit.requests": "Yêu cầu giải trình cần trả lời",
    "unit.requests.none": "Không có yêu cầu giải trình",
    "unit.alerts": "Cảnh báo của đơn vị",
    "col.id": "Mã hồ sơ",
    "col.title": "Nội dung",
    "col.category": "Lĩnh vực",
    "col.priority": "Ưu tiên",
    "col.due": "Hạn xử lý",
    "col.left": "Còn lại",
    "col.status": "Trạng thái",
    "priority.urgent": "Khẩn",
    "priority.normal": "Thường",
    "item.overdue": "Quá hạn",
    "item.due_soon": "Sắp đến hạn",
    "item.paused": "Tạm dừng",
    "item.open": "Đang xử lý",
    "item.appointment": "Hẹn lại",
    "day": "ngày",
    "colour.green": "Tốt",
    "colour.orange": "Cần chú ý",
    "colour.red": "Nghiêm trọng",
    "colour.grey": "Chưa có số liệu",
    // Board pages (issue 19): unit health, status bar, kiosk tokens, wall panel, leader flow.
    "health.act": "Cần xử lý",
    "health.watch": "Theo dõi",
    "health.ok": "Ổn định",
    "health.none": "Chưa có số liệu",
    "health.reason.alert.escalated": "cảnh báo đã leo thang",
    "health.reason.alert.critical": "cảnh báo nghiêm trọng",
    "health.reason.alert.warning": "cảnh báo mức cảnh báo",
    "health.reason.rate.red": "tỷ lệ đúng hạn thấp (hồ sơ đã giải quyết)",
    "health.reason.rate.red_low_volume": "tỷ lệ thấp nhưng ít hồ sơ (đã giải quyết)",
    "health.reason.rate.orange": "tỷ lệ đúng hạn cần chú ý (hồ sơ đã giải quyết)",
    "health.rule": "Trạng thái = mức nặng nhất của các cảnh báo đang mở (nghiêm trọng/leo thang → Cần xử lý, cảnh báo → Theo dõi) và tỷ lệ trong ngày (đỏ chỉ thành Cần xử lý khi đã giải quyết ≥ 10 hồ sơ).",
    "conn.stale": "Dữ liệu cũ",
    "conn.expired": "Mã truy cập đã hết hạn",
    "updated.hint": "Giờ thực lúc trang nhận dữ liệu mới nhất",
    "clock.hint": "Giờ của hệ thống xử lý",
    "clock.demo": "Đồng hồ mô phỏng",
    "clock.demo.hint": "Giờ mô phỏng chạy nhanh hơn giờ thực (chế độ demo); hạn xử lý tính theo đồng hồ này",
    "stale.since": "Không nhận được dữ liệu mới từ",
    "stale.never": "Chưa nhận được dữ liệu nào",
    "stale.reason.data": "Máy chủ vẫn kết nối nhưng bộ xử lý không gửi số liệu — số liệu trên trang có thể đã cũ.",
    "stale.reason.connection": "Mất kết nối tới máy chủ — đang tự kết nối lại; số liệu trên trang có thể đã cũ.",
    "notice.notoken": "Trang này cần mã truy cập (token) mà trình duyệt chưa có.",
    "notice.unauthorized": "Mã truy cập không hợp lệ hoặc đã bị thu hồi; trang đã quên mã này.",
    "notice.expired": "Mã truy cập đã hết hạn; trang đã quên mã này.",
    "notice.forbidden": "Mã truy cập này không được xem trang này.",
    "notice.how": "Nhờ quản trị viên cấp mã mới rồi mở lại trang với mã ở cuối địa chỉ (màn hình tường giữ mã cho lần sau):",
    "scope.wall": "Màn hình tường",
    "scope.leader": "Lãnh đạo",
    "scope.unit": "Đơn vị",
    "tiles.page": "Trang",
    "tiles.count": "đơn vị",
    "tile.open": "Mở số liệu và hàng đợi của đơn vị",
    "panel.close": "Đóng",
    "panel.open_page": "Mở trang đơn vị",
    "panel.queue": "Hồ sơ sắp đến hạn / quá hạn",
    "panel.alerts": "Cảnh báo đang mở",
    "panel.loading": "Đang tải hàng đợi…",
    "filter.waiting": "Chờ đơn vị giải trình",
    "explain.label": "Nội dung yêu cầu giải trình",
    "explain.answer.label": "Nội dung giải trình",
    "explain.waiting": "Chờ giải trình",
    "explain.answered": "Đơn vị vừa giải trình",
    "alert.unit_page": "Trang đơn vị",
    "announce.answer": "Có giải trình mới từ",
    "announce.ack": "Đã xác nhận cảnh báo",
  },
  en: {
    "app.name": "govpulse",
    "wall.title": "Execution governance · Ho Chi Minh City",
    "leader.title": "Leaders · Governance alerts",
    "unit.title": "Unit board",
    "lang.toggle": "Tiếng Việt",
    "conn.connecting": "Connecting…",
    "conn.live": "Live",
    "conn.reconnecting": "Disconnected — retrying",
    "conn.unauthorized": "Access token invalid or expired",
    "conn.forbidden": "Not allowed to view this",
    "conn.notoken": "No access token",
    "updated": "Updated",
    "never": "never",
    "stale": "STALE",
    "stale.hint": "No fresh data — figures may be out of date",
    "clock": "System time",
    "kpi.received": "Received today",
    "kpi.resolved": "Resolved",
    "kpi.on_time": "On-time rate",
    "kpi.late": "Late rate",
    "kpi.open": "Open",
    "kpi.overdue": "Overdue now",
    "kpi.due_soon": "Due soon",
    "kpi.p90": "Handling time p90",
    "spark.title": "Received, last 2 h (5-minute windows)",
    "tiles.title": "Units",
    "tiles.overdue": "overdue",
    "worst.title": "Units needing attention",
    "worst.on_time": "Lowest on-time rate",
    "worst.overdue": "Most overdue",
    "worst.none": "No figures yet",
    "ticker.title": "Latest alerts",
    "ticker.none": "No alerts",
    "banner.critical": "CRITICAL ALERT",
    "banner.dismiss": "Seen",
    "severity.critical": "Critical",
    "severity.warning": "Warning",
    "severity.info": "Info",
    "state.firing": "Firing",
    "state.acknowledged": "Acknowledged",
    "state.resolved": "Resolved",
    "escalation": "Escalation level",
    "silenced": "Silenced",
    "sound.enable": "Enable sound",
    "sound.on": "Sound: on",
    "filter.severity": "Severity",
    "filter.state": "State",
    "filter.unit": "Unit",
    "filter.unit.placeholder": "Find a unit…",
    "filter.all": "All",
    "filter.active": "Not resolved",
    "filter.escalated": "Escalated only",
    "alerts.priority": "Critical and escalated",
    "alerts.others": "Other alerts",
    "alerts.none": "No matching alerts",
    "alert.opened": "Opened",
    "alert.acked_by": "Acknowledged by",
    "alert.item": "Item",
    "ack": "Acknowledge",
    "explain.request": "Request explanation",
    "explain.request.placeholder": "What should the unit explain?",
    "explain.answer": "Send explanation",
    "explain.answer.placeholder": "The unit's explanation…",
    "explain.thread": "Explanation thread",
    "explain.kind.request": "Request",
    "explain.kind.answer": "Answer",
    "command.sent": "Sent",
    "command.error.rate_limited": "Too many actions — please wait a moment",
    "command.error.unavailable": "Commands cannot be delivered right now — please retry",
    "command.error.forbidden": "You are not allowed to do this",
    "command.error.not_found": "The alert is no longer on the board",
    "command.error.offline": "Not connected — nothing was sent",
    "command.error.other": "Could not send",
    "unit.counters": "Today",
    "unit.queue": "Open items",
    "unit.queue.none": "No open items",
    "unit.requests": "Explanation requests to answer",
    "unit.requests.none": "No explanation requests",
    "unit.alerts": "Alerts of this unit",
    "col.id": "Item",
    "col.title": "Title",
    "col.category": "Category",
    "col.priority": "Priority",
    "col.due": "Deadline",
    "col.left": "Time left",
    "col.status": "Status",
    "priority.urgent": "Urgent",
    "priority.normal": "Normal",
    "item.overdue": "Overdue",
    "item.due_soon": "Due soon",
    "item.paused": "Paused",
    "item.open": "Open",
    "item.appointment": "New appointment",
    "day": "d",
    "colour.green": "Good",
    "colour.orange": "Watch",
    "colour.red": "Critical",
    "colour.grey": "No data",
    "health.act": "Act now",
    "health.watch": "Watch",
    "health.ok": "Steady",
    "health.none": "No data",
    "health.reason.alert.escalated": "escalated alert(s)",
    "health.reason.alert.critical": "critical alert(s)",
    "health.reason.alert.warning": "warning alert(s)",
    "health.reason.rate.red": "low on-time rate (items resolved)",
    "health.reason.rate.red_low_volume": "low rate but few items (resolved)",
    "health.reason.rate.orange": "on-time rate to watch (items resolved)",
    "health.rule": "Status = the worst of the open alerts (critical/escalated → Act now, warning → Watch) and today's rates (red becomes Act now only after ≥ 10 resolved items).",
    "conn.stale": "Stale data",
    "conn.expired": "Access token expired",
    "updated.hint": "Real time when the page last received data",
    "clock.hint": "The processing system's clock",
    "clock.demo": "Demo clock",
    "clock.demo.hint": "Simulated time running faster than real time (demo mode); deadlines count on this clock",
    "stale.since": "No fresh data since",
    "stale.never": "No data received yet",
    "stale.reason.data": "The server is connected but the processor sends no figures — what you see may be out of date.",
    "stale.reason.connection": "Connection to the server lost — reconnecting; what you see may be out of date.",
    "notice.notoken": "This page needs an access token that this browser does not have.",
    "notice.unauthorized": "The access token is invalid or was revoked; the page forgot it.",
    "notice.expired": "The access token expired; the page forgot it.",
    "notice.forbidden": "This access token may not view this page.",
    "notice.how": "Ask an administrator for a new token and open the page with it at the end of the address (a wall screen keeps it for next time):",
    "scope.wall": "Wall screen",
    "scope.leader": "Leader",
    "scope.unit": "Unit",
    "tiles.page": "Page",
    "tiles.count": "units",
    "tile.open": "Open the unit's figures and queue",
    "panel.close": "Close",
    "panel.open_page": "Open the unit page",
    "panel.queue": "Items due soon / overdue",
    "panel.alerts": "Open alerts",
    "panel.loading": "Loading the queue…",
    "filter.waiting": "Waiting for an answer",
    "explain.label": "What should the unit explain?",
    "explain.answer.label": "The unit's explanation",
    "explain.waiting": "Waiting for an answer",
    "explain.answered": "The unit just answered",
    "alert.unit_page": "Unit page",
    "announce.answer": "New explanation from",
    "announce.ack": "Alert acknowledged",
  },
};

let current = readStored();
const listeners = new Set();

function readStored() {
  try {
    const stored = window.localStorage.getItem(STORAGE_KEY);
    return stored === "en" ? "en" : "vi";
  } catch {
    return "vi";
  }
}

/** The current language, "vi" or "en". */
export function lang() {
  return current;
}

/** Translate a label key (falls back to Vietnamese, then to the key itself). */
export function t(key) {
  return LABELS[current][key] ?? LABELS.vi[key] ?? key;
}

/** Pick the field of `obj` for the current language, e.g. pick(unit, "name") → name_vi. */
export function pick(obj, field) {
  if (!obj) return "";
  const value = obj[`${field}_${current}`] ?? obj[`${field}_vi`] ?? obj[field];
  return value === null || value === undefined ? "" : String(value);
}

/** Switch language, remember it, relabel the page and notify listeners. */
export function setLang(value) {
  current = value === "en" ? "en" : "vi";
  try {
    window.localStorage.setItem(STORAGE_KEY, current);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  applyLabels(document);
  for (const listener of listeners) listener(current);
}

/** Call `listener(lang)` after each language change. */
export function onLangChange(listener) {
  listeners.add(listener);
}

/** Fill every [data-i18n] (textContent) and [data-i18n-placeholder] of `root`. */
export function applyLabels(root) {
  document.documentElement.lang = current;
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
  }
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
}

/** Wire a toggle button: its label names the other language. */
export function bindToggle(button) {
  button.addEventListener("click", () => setLang(current === "vi" ? "en" : "vi"));
}
