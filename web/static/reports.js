// The /reports page: closed report periods (1022 month, quarter, year) with rankings,
// classification, an on-time bar chart and a 12-period trend; XLSX/CSV downloads.
// Data: GET /reports/data.json (token in the Authorization header, never in the URL).
// Text from the server reaches the page only through textContent and attributes.

import { takeToken } from "./board.js";
import { byId, el, fill, setText, svg } from "./dom.js";
import { fmtInt, fmtPct } from "./format.js";
import { applyLabels, bindToggle, lang, onLangChange, pick } from "./i18n.js";

const LABELS = {
  vi: {
    title: "Báo cáo kỳ",
    period: "Kỳ báo cáo",
    level: "Cấp",
    "level.all": "Tất cả",
    "download.xlsx": "Tải XLSX",
    "download.csv": "Tải CSV",
    "chart.bars": "Tỉ lệ đúng hạn theo đơn vị",
    "chart.trend": "Xu hướng 12 kỳ gần nhất",
    from: "Từ",
    to: "đến trước",
    none: "Chưa có kỳ báo cáo nào đã khóa sổ; báo cáo có sau 12:00 ngày 25",
    notoken: "Thiếu mã truy cập (token): mở trang với ?token=…",
    revision: "Lần sửa",
    asof: "số liệu tính đến",
    late_events: "sự kiện đến muộn không tính",
    month: "Tháng",
    quarter: "Quý",
    year: "Năm",
    "col.unit": "Đơn vị",
    "col.code": "Mã",
    "col.received": "Tiếp nhận",
    "col.carried": "Tồn kỳ trước",
    "col.resolved": "Đã giải quyết",
    "col.on_time": "Đúng/trước hạn",
    "col.late": "Trễ hạn",
    "col.late_open": "Trễ còn tồn",
    "col.on_time_rate": "Tỉ lệ đúng hạn",
    "col.late_rate": "Tỉ lệ trễ hạn",
    "col.avg_days": "TB (ngày)",
    "col.p90_days": "P90 (ngày)",
    "col.in": "Chuyển đến",
    "col.out": "Chuyển đi",
    "col.reopened": "Mở lại",
    "col.rank": "Hạng",
    "col.change": "± hạng",
    "col.class": "Xếp loại",
    "col.revision": "Lần sửa",
    "splits.title": "Theo hình thức làm việc (thí điểm làm việc tại nhà)",
    "col.mode": "Hình thức",
    "mode.office": "Tại cơ quan",
    "mode.home": "Tại nhà",
    "mode.field": "Hiện trường",
    "mode.unknown": "Chưa rõ",
    "staff.title": "Theo cán bộ (mã cán bộ; chỉ đơn vị và lãnh đạo xem được)",
    "col.staff": "Mã cán bộ",
  },
  en: {
    title: "Period reports",
    period: "Report period",
    level: "Level",
    "level.all": "All",
    "download.xlsx": "Download XLSX",
    "download.csv": "Download CSV",
    "chart.bars": "On-time rate by unit",
    "chart.trend": "Trend over the last 12 periods",
    from: "From",
    to: "to before",
    none: "No report period has closed yet; reports appear after 12:00 on the 25th",
    notoken: "Missing access token: open the page with ?token=…",
    revision: "Revision",
    asof: "figures as of",
    late_events: "late events not counted",
    month: "Month",
    quarter: "Quarter",
    year: "Year",
    "col.unit": "Unit",
    "col.code": "Code",
    "col.received": "Received",
    "col.carried": "Carried over",
    "col.resolved": "Resolved",
    "col.on_time": "On time/early",
    "col.late": "Late",
    "col.late_open": "Late still open",
    "col.on_time_rate": "On-time rate",
    "col.late_rate": "Late rate",
    "col.avg_days": "Avg (days)",
    "col.p90_days": "P90 (days)",
    "col.in": "Transfers in",
    "col.out": "Transfers out",
    "col.reopened": "Reopened",
    "col.rank": "Rank",
    "col.change": "± rank",
    "col.class": "Classification",
    "col.revision": "Revision",
    "splits.title": "By work mode (work-from-home pilot)",
    "col.mode": "Work mode",
    "mode.office": "Office",
    "mode.home": "Home",
    "mode.field": "Field",
    "mode.unknown": "Unknown",
    "staff.title": "By assignee (staff ids; only the unit and leaders see this)",
    "col.staff": "Staff id",
  },
};

const LEVELS = {
  city: ["Thành phố", "City"],
  department: ["Sở, ban, ngành", "Departments"],
  district: ["Quận, huyện", "Districts"],
  ward: ["Phường", "Wards"],
  commune: ["Xã", "Communes"],
  special_zone: ["Đặc khu", "Special zones"],
  center: ["Trung tâm", "Centres"],
};

function r(key) {
  return LABELS[lang()][key] ?? LABELS.vi[key] ?? key;
}

/** Epoch seconds → "12:00 25/09/2026" in the city's time (UTC+7, no daylight saving). */
function localStamp(at) {
  const d = new Date((at + 7 * 3600) * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())} ${two(d.getUTCDate())}/${two(d.getUTCMonth() + 1)}/${d.getUTCFullYear()}`;
}

function days(value) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(1) : "—";
}

const state = { token: takeToken(), doc: null, level: "all" };

// [label key, value of a row, formula name for the hover text]
const COLUMNS = [
  ["col.code", (row) => row.unit],
  ["col.unit", (row) => pick(row, "name")],
  ["col.received", (row) => fmtInt(row.figures.received)],
  ["col.carried", (row) => fmtInt(row.figures.carried_over)],
  ["col.resolved", (row) => fmtInt(row.figures.resolved)],
  ["col.on_time", (row) => fmtInt(row.figures.on_time)],
  ["col.late", (row) => fmtInt(row.figures.late)],
  ["col.late_open", (row) => fmtInt(row.figures.late_open)],
  ["col.on_time_rate", (row) => fmtPct(row.figures.on_time_rate), "on_time_rate"],
  ["col.late_rate", (row) => fmtPct(row.figures.late_rate), "late_rate"],
  ["col.avg_days", (row) => days(row.figures.avg_days), "avg_days"],
  ["col.p90_days", (row) => days(row.figures.p90_days), "p90_days"],
  ["col.in", (row) => fmtInt(row.figures.transferred_in)],
  ["col.out", (row) => fmtInt(row.figures.transferred_out)],
  ["col.reopened", (row) => fmtInt(row.figures.reopened)],
  ["col.rank", (row) => (row.rank === null ? "—" : String(row.rank))],
  ["col.change", (row) => (row.change === null ? "" : row.change > 0 ? `▲${row.change}` : row.change < 0 ? `▼${-row.change}` : "=")],
];

function formula(name) {
  const text = state.doc?.formulas?.[name];
  return text ? text[lang()] ?? text.vi : "";
}

function periodOptions(available) {
  const out = new Set();
  for (const month of available) {
    const [year, number] = month.split("-").map(Number);
    out.add(month);
    out.add(`${year}-Q${Math.floor((number - 1) / 3) + 1}`);
    out.add(String(year));
  }
  return [...out].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

function periodLabel(key) {
  if (/^\d{4}$/.test(key)) return `${r("year")} ${key}`;
  if (/Q/.test(key)) return `${r("quarter")} ${key.slice(6)}/${key.slice(0, 4)}`;
  return `${r("month")} ${key.slice(5)}/${key.slice(0, 4)}`;
}

function showError(message) {
  const banner = byId("banner");
  setText(banner, message);
  banner.hidden = !message;
}

async function request(path) {
  if (!state.token) throw new Error(r("notoken"));
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) {
    let message = `${response.status}`;
    try {
      message = (await response.json()).error ?? message;
    } catch {
      /* not JSON */
    }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
}

function query() {
  const params = new URLSearchParams(window.location.search);
  const out = new URLSearchParams();
  for (const key of ["period", "unit"]) if (params.get(key)) out.set(key, params.get(key));
  return out;
}

async function load() {
  try {
    const response = await request(`/reports/data.json?${query()}`);
    state.doc = await response.json();
    showError("");
    render();
  } catch (error) {
    state.doc = null;
    // With no period or unit asked for, a 404 can only mean that no month has closed yet:
    // say so in the page's language (the server's messages are English).
    const nothingClosed = error.status === 404 && !query().toString();
    showError(nothingClosed ? r("none") : error.message);
    render();
  }
}

function render() {
  applyLabels(document);
  for (const node of document.querySelectorAll("[data-r]")) setText(node, r(node.dataset.r));
  setText(byId("lang"), lang() === "vi" ? "English" : "Tiếng Việt");
  const doc = state.doc;
  const select = byId("period");
  const options = doc ? periodOptions(doc.available) : [];
  fill(select, options.map((key) => el("option", { text: periodLabel(key), attrs: { value: key } })));
  if (doc) select.value = doc.period;
  const kinds = doc ? [...new Set(doc.rows.map((row) => row.kind))] : [];
  const level = byId("level");
  fill(level, [
    el("option", { text: r("level.all"), attrs: { value: "all" } }),
    ...kinds.map((kind) => el("option", { text: LEVELS[kind]?.[lang() === "en" ? 1 : 0] ?? kind, attrs: { value: kind } })),
  ]);
  if (!kinds.includes(state.level)) state.level = "all";
  level.value = state.level;
  if (!doc) {
    fill(byId("report-head"), []);
    fill(byId("report-body"), []);
    for (const id of ["split-head", "split-body", "staff-head", "staff-body"]) fill(byId(id), []);
    byId("staff-section").hidden = true;
    fill(byId("bars"), []);
    fill(byId("trend"), []);
    setText(byId("period-info"), "");
    return;
  }
  setText(byId("period-info"), `${periodLabel(doc.period)}: ${r("from")} ${localStamp(doc.start)} ${r("to")} ${localStamp(doc.end)}`);
  const rows = doc.rows.filter((row) => state.level === "all" || row.kind === state.level);
  renderTable(doc, rows);
  renderSplits(rows);
  renderBars(rows);
  renderTrend(doc);
}

function renderTable(doc, rows) {
  const classify = doc.kind !== "month";
  const heads = COLUMNS.map(([key, , name]) => el("th", { text: r(key), title: name ? formula(name) : undefined, attrs: { scope: "col" } }));
  if (classify) heads.push(el("th", { text: r("col.class"), attrs: { scope: "col" } }));
  heads.push(el("th", { text: r("col.revision"), attrs: { scope: "col" } }));
  fill(byId("report-head"), heads);
  const ordered = [...rows].sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9) || (a.unit < b.unit ? -1 : 1));
  fill(
    byId("report-body"),
    ordered.map((row) => {
      const cells = COLUMNS.map(([key, get, name]) => {
        const cell = el("td", { text: get(row), title: name ? formula(name) : undefined });
        if (key === "col.change" && row.change) cell.className = row.change > 0 ? "up" : "down";
        return cell;
      });
      if (classify) {
        const placed = row.classification ?? {};
        cells.push(el("td", { text: pick(placed, "name"), title: pick(placed, "rule") }));
      }
      const revised = row.revision !== null && row.revision > 1;
      const asOf = row.as_of === null ? "" : `${r("revision")} ${row.revision}, ${r("asof")} ${localStamp(row.as_of)}`;
      const late = row.late_events ? `; ${row.late_events} ${r("late_events")}` : "";
      cells.push(el("td", { class: revised ? "revised" : "", text: row.revision ?? "—", title: asOf + late }));
      return el("tr", { attrs: { "data-unit": row.unit } }, ...cells);
    }),
  );
}

function renderSplits(rows) {
  fillSplit("split", "work_mode", "col.mode", rows, (mode) => r(`mode.${mode}`));
  const staff = fillSplit("staff", "assignee", "col.staff", rows, (id) => id);
  byId("staff-section").hidden = staff === 0;
}

/** One table of a split dimension; returns how many lines it has. */
function fillSplit(prefix, dimension, labelKey, rows, label) {
  const heads = ["col.code", "col.unit", labelKey, "col.received", "col.resolved", "col.on_time", "col.late", "col.on_time_rate"];
  fill(byId(`${prefix}-head`), heads.map((key) => el("th", { text: r(key), title: key === "col.on_time_rate" ? formula("on_time_rate") : undefined, attrs: { scope: "col" } })));
  const lines = [];
  for (const row of rows) {
    for (const [value, f] of Object.entries(row.splits?.[dimension] ?? {})) {
      lines.push(
        el(
          "tr",
          { attrs: { "data-unit": row.unit, "data-value": value, ...(dimension === "work_mode" ? { "data-mode": value } : {}) } },
          el("td", { text: row.unit }),
          el("td", { text: pick(row, "name") }),
          el("td", { text: label(value) }),
          el("td", { text: fmtInt(f.received) }),
          el("td", { text: fmtInt(f.resolved) }),
          el("td", { text: fmtInt(f.on_time) }),
          el("td", { text: fmtInt(f.late) }),
          el("td", { text: fmtPct(f.on_time_rate), title: formula("on_time_rate") }),
        ),
      );
    }
  }
  fill(byId(`${prefix}-body`), lines);
  return lines.length;
}

function renderBars(rows) {
  const rated = rows
    .filter((row) => typeof row.figures.on_time_rate === "number")
    .sort((a, b) => b.figures.on_time_rate - a.figures.on_time_rate || a.unit.localeCompare(b.unit))
    .slice(0, 80);
  const width = 600;
  const bar = 14;
  const gap = 4;
  const label = 200;
  const height = Math.max(1, rated.length) * (bar + gap) + 4;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": r("chart.bars") });
  chart.append(svg("line", { class: "axis", x1: label, y1: 0, x2: label, y2: height }));
  rated.forEach((row, index) => {
    const y = index * (bar + gap) + 2;
    const rate = row.figures.on_time_rate;
    const name = svg("text", { class: "label", x: label - 6, y: y + bar - 3, "text-anchor": "end" });
    name.textContent = pick(row, "name").slice(0, 34);
    const rect = svg("rect", { class: rate < 0.8 ? "bar low" : "bar", x: label, y, width: Math.max(1, rate * (width - label - 60)), height: bar });
    const tip = svg("title", {});
    tip.textContent = `${pick(row, "name")}: ${fmtPct(rate)} — ${formula("on_time_rate")}`;
    rect.append(tip);
    const value = svg("text", { class: "value", x: label + rate * (width - label - 60) + 4, y: y + bar - 3 });
    value.textContent = fmtPct(rate);
    chart.append(name, rect, value);
  });
  fill(byId("bars"), [chart]);
}

function renderTrend(doc) {
  const [unit, rates] = Object.entries(doc.trend.units)[0] ?? [null, []];
  const width = 320;
  const height = 160;
  const pad = 24;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": r("chart.trend") });
  chart.append(svg("line", { class: "axis", x1: pad, y1: height - pad, x2: width - 4, y2: height - pad }));
  const step = (width - pad - 8) / Math.max(1, doc.trend.periods.length - 1);
  const points = [];
  rates.forEach((rate, index) => {
    if (typeof rate !== "number") return;
    const x = pad + index * step;
    const y = height - pad - rate * (height - 2 * pad);
    points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    const dot = svg("circle", { class: "dot", cx: x, cy: y, r: 3 });
    const tip = svg("title", {});
    tip.textContent = `${doc.trend.periods[index]}: ${fmtPct(rate)}`;
    dot.append(tip);
    chart.append(dot);
  });
  if (points.length > 1) chart.prepend(svg("polyline", { class: "line", points: points.join(" ") }));
  const first = svg("text", { class: "label", x: pad, y: height - 6 });
  first.textContent = doc.trend.periods[0] ?? "";
  const last = svg("text", { class: "label", x: width - 4, y: height - 6, "text-anchor": "end" });
  last.textContent = `${doc.trend.periods.at(-1) ?? ""} · ${unit ?? ""}`;
  chart.append(first, last);
  fill(byId("trend"), [chart]);
}

async function download(kind) {
  try {
    const response = await request(`/reports/export.${kind}?${query()}`);
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") ?? "";
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `bao-cao.${kind}`;
    const link = el("a", { attrs: { href: URL.createObjectURL(blob), download: name } });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    showError(error.message);
  }
}

function choosePeriod(value) {
  const url = new URL(window.location.href);
  url.searchParams.set("period", value);
  window.history.replaceState(null, "", url.toString());
  load();
}

bindToggle(byId("lang"));
onLangChange(render);
byId("period").addEventListener("change", (event) => choosePeriod(event.target.value));
byId("level").addEventListener("change", (event) => {
  state.level = event.target.value;
  render();
});
byId("dl-xlsx").addEventListener("click", () => download("xlsx"));
byId("dl-csv").addEventListener("click", () => download("csv"));
load();
