// The /item/<id> page: every event and transition of an item with both clocks (the
// citizen's: received → current due, the original due kept; the unit's: since → unit due),
// extensions, pauses, alerts and explanations. Data: GET /items/<id>.json with the token in
// the Authorization header. Citizen and staff text only through textContent.

import { takeToken } from "./board.js";
import { byId, el, fill, setText } from "./dom.js";
import { bindToggle, lang, onLangChange } from "./i18n.js";

const LABELS = {
  vi: {
    title: "Dòng thời gian hồ sơ",
    alerts: "Cảnh báo và giải trình",
    "alerts.none": "Không có cảnh báo đang mở",
    notoken: "Thiếu mã truy cập (token): mở trang với ?token=…",
    "col.at": "Thời điểm",
    "col.what": "Sự kiện",
    "col.by": "Nguồn",
    "col.unit": "Đơn vị",
    "col.citizen": "Hạn của người dân (hiện tại / ban đầu)",
    "col.unitclock": "Hạn của đơn vị (từ → hạn)",
    "col.detail": "Chi tiết",
    "by.event": "sự kiện",
    "by.time": "thời gian",
    status: "Trạng thái",
    received: "Tiếp nhận",
    original: "Hạn ban đầu",
    current: "Hạn hiện tại",
    unit_due: "Hạn của đơn vị",
    appointment: "Hẹn mới",
    overdue: "Quá hạn từ",
    paused: "Tạm dừng từ",
    "kind.received": "Tiếp nhận",
    "kind.assigned": "Giao xử lý",
    "kind.transferred": "Chuyển đơn vị",
    "kind.accepted": "Nhận xử lý",
    "kind.progress": "Đang xử lý",
    "kind.extended": "Gia hạn",
    "kind.paused": "Tạm dừng",
    "kind.resumed": "Tiếp tục",
    "kind.resolved": "Đã giải quyết",
    "kind.reopened": "Mở lại",
    "kind.cancelled": "Hủy",
    "kind.due_soon": "Sắp đến hạn",
    "kind.overdue": "Quá hạn",
    "kind.escalated": "Leo thang",
  },
  en: {
    title: "Item timeline",
    alerts: "Alerts and explanations",
    "alerts.none": "No open alerts",
    notoken: "Missing access token: open the page with ?token=…",
    "col.at": "When",
    "col.what": "What",
    "col.by": "Source",
    "col.unit": "Unit",
    "col.citizen": "Citizen's deadline (current / original)",
    "col.unitclock": "Unit's clock (since → due)",
    "col.detail": "Details",
    "by.event": "event",
    "by.time": "time",
    status: "Status",
    received: "Received",
    original: "Original due",
    current: "Current due",
    unit_due: "Unit due",
    appointment: "New appointment",
    overdue: "Overdue since",
    paused: "Paused since",
    "kind.received": "Received",
    "kind.assigned": "Assigned",
    "kind.transferred": "Transferred",
    "kind.accepted": "Accepted",
    "kind.progress": "In progress",
    "kind.extended": "Extended",
    "kind.paused": "Paused",
    "kind.resumed": "Resumed",
    "kind.resolved": "Resolved",
    "kind.reopened": "Reopened",
    "kind.cancelled": "Cancelled",
    "kind.due_soon": "Due soon",
    "kind.overdue": "Overdue",
    "kind.escalated": "Escalated",
  },
};

function r(key) {
  return LABELS[lang()][key] ?? LABELS.vi[key] ?? key;
}

/** Epoch seconds → "09:30 26/11/2026" in the city's time (UTC+7). */
function stamp(at) {
  if (typeof at !== "number" || !Number.isFinite(at)) return "—";
  const d = new Date((at + 7 * 3600) * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())} ${two(d.getUTCDate())}/${two(d.getUTCMonth() + 1)}/${d.getUTCFullYear()}`;
}

const itemId = decodeURIComponent(window.location.pathname.replace(/^\/item\//, "").replace(/\/$/, ""));
const token = takeToken();
let data = null;

function showError(message) {
  const banner = byId("banner");
  setText(banner, message);
  banner.hidden = !message;
}

async function load() {
  if (!token) {
    showError(r("notoken"));
    return;
  }
  const response = await fetch(`/items/${itemId}.json`, { headers: { Authorization: `Bearer ${token}` } });
  const body = await response.json().catch(() => ({ error: String(response.status) }));
  if (!response.ok) {
    data = null;
    showError(body.error ?? String(response.status));
  } else {
    data = body;
    showError("");
  }
  render();
}

function detail(entry) {
  const bits = [];
  const event = entry.event ?? {};
  if (entry.from_unit) bits.push(`${entry.from_unit} → ${entry.unit}`);
  if (event.due_at) bits.push(`${r("current")}: ${stamp(event.due_at)}`);
  if (event.sla) bits.push(JSON.stringify(event.sla));
  if (event.note) bits.push(event.note);
  if (event.assigned_by) bits.push(event.assigned_by);
  if (event.work_mode) bits.push(event.work_mode);
  if (event.assignee) bits.push(event.assignee);
  if (entry.escalation) bits.push(`#${entry.escalation}`);
  if (typeof entry.latency === "number") bits.push(`${(entry.latency / 86400).toFixed(1)} d`);
  if (entry.state?.appointment_at) bits.push(`${r("appointment")}: ${stamp(entry.state.appointment_at)}`);
  if (entry.state?.paused_at) bits.push(`${r("paused")}: ${stamp(entry.state.paused_at)}`);
  return bits.join(" · ");
}

function render() {
  for (const node of document.querySelectorAll("[data-r]")) setText(node, r(node.dataset.r));
  setText(byId("lang"), lang() === "vi" ? "English" : "Tiếng Việt");
  setText(byId("item-id"), itemId);
  if (!data) {
    fill(byId("summary"), []);
    fill(byId("timeline-head"), []);
    fill(byId("timeline-body"), []);
    fill(byId("alerts"), []);
    return;
  }
  const item = data.item;
  fill(byId("summary"), [
    el("h2", { text: item.title ?? "" }),
    el(
      "dl",
      { class: "item-facts" },
      ...[
        [r("status"), `${item.status} · ${item.stage}`],
        [r("col.unit"), item.unit],
        [r("received"), stamp(item.received_at)],
        [r("original"), stamp(item.original_due)],
        [r("current"), stamp(item.due)],
        [r("unit_due"), stamp(item.unit_due)],
        [r("overdue"), stamp(item.overdue_at)],
        [r("appointment"), stamp(item.appointment_at)],
      ].flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]),
    ),
  ]);
  const heads = ["col.at", "col.what", "col.by", "col.unit", "col.citizen", "col.unitclock", "col.detail"];
  fill(byId("timeline-head"), heads.map((key) => el("th", { text: r(key), attrs: { scope: "col" } })));
  let state = {};
  fill(
    byId("timeline-body"),
    data.timeline.map((entry) => {
      state = entry.state ?? state;
      return el(
        "tr",
        { attrs: { "data-seq": String(entry.seq), "data-kind": entry.kind } },
        el("td", { text: stamp(entry.at) }),
        el("td", { text: r(`kind.${entry.kind}`) }),
        el("td", { text: r(`by.${entry.by}`) }),
        el("td", { text: entry.unit }),
        el("td", { text: `${stamp(state.current_due)} / ${stamp(state.original_due)}` }),
        el("td", { text: `${stamp(state.unit_since)} → ${stamp(state.unit_due)}` }),
        el("td", { text: detail(entry) }),
      );
    }),
  );
  const alerts = data.alerts.map((alert) =>
    el(
      "div",
      { class: `card sev-${alert.severity ?? "info"}`, attrs: { "data-alert": alert.fingerprint ?? "" } },
      el("div", { class: "card-title", text: alert[`title_${lang()}`] ?? alert.title_vi ?? alert.rule ?? "" }),
      el("div", { class: "card-meta", text: `${alert.state ?? ""} · ${stamp(alert.opened_at)}` }),
      ...(alert.explanations ?? []).map((x) => el("p", { class: "explanation", text: `${x.kind} · ${x.by}: ${x.text}` })),
    ),
  );
  fill(byId("alerts"), alerts.length ? alerts : [el("p", { text: r("alerts.none") })]);
}

bindToggle(byId("lang"));
onLangChange(render);
load();
