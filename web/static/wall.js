// The control-room wall: city KPIs, unit tiles, worst units, alert ticker, sparkline,
// and an impossible-to-miss banner for new critical alerts.

import { becameCritical, compareAlerts, compareNewest, tickerLine } from "./alerts.js";
import { Board, bindStatus, takeToken, throttle } from "./board.js";
import { mountCounts } from "./indicator-view.js";
import { byId, el, fill, setText, svg } from "./dom.js";
import { fmtDateTime, fmtDuration, fmtInt, fmtLatency, fmtPct, fmtTime, shortName } from "./format.js";
import { rateTitles } from "./formulas.js";
import { alertsByUnit, STATUSES, unitHealth } from "./health.js";
import { applyLabels, bindToggle, onLangChange, pick, t } from "./i18n.js";

const BANNER_SECONDS = 120;
const PAGE_SECONDS = 15; // tile pages rotate when every unit does not fit at a readable size
const DEPARTMENT_KINDS = new Set(["department", "center"]);
const TILE_MIN_WIDTH = 7.8; // em of the tile font (unit names, 24 px at 1080p) with the overdue count
const TILE_MIN_HEIGHT = 2.6; // em: two lines of name
const TILE_GAP = 4; // px, as .tiles gap

const board = new Board();
applyLabels(document);
bindToggle(byId("lang"));
bindStatus(board);

const tiles = new Map(); // code -> {node, name, count}
const banner = { node: byId("banner"), items: [], timer: null };

function today(unit) {
  return unit?.windows?.["1d"] ?? {};
}

function renderKpis() {
  const city = board.city();
  const day = today(city);
  const gauges = city?.gauges ?? {};
  setText(byId("kpi-received"), fmtInt(day.received));
  setText(byId("kpi-resolved"), fmtInt(day.resolved));
  setText(byId("kpi-on-time"), fmtPct(day.on_time_rate));
  setText(byId("kpi-late"), fmtPct(day.late_rate));
  const titles = rateTitles(day, gauges);
  byId("kpi-on-time").title = titles.on_time;
  byId("kpi-late").title = titles.late;
  setText(byId("kpi-open"), fmtInt(gauges.open));
  setText(byId("kpi-overdue"), fmtInt(gauges.overdue));
  setText(byId("kpi-due-soon"), fmtInt(gauges.due_soon));
  renderSpark(Array.isArray(city?.spark) ? city.spark : []);
}

function renderSpark(values) {
  const box = byId("spark");
  const width = 360;
  const height = 70;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "spark-svg", "aria-label": t("spark.title"), preserveAspectRatio: "none" });
  const numbers = values.map((v) => (typeof v === "number" && Number.isFinite(v) ? v : 0));
  if (numbers.length > 1) {
    const max = Math.max(1, ...numbers);
    const step = width / (numbers.length - 1);
    const points = numbers.map((v, i) => [i * step, height - 4 - (v / max) * (height - 10)]);
    const line = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
    chart.append(svg("polygon", { points: `0,${height} ${line} ${width},${height}`, class: "spark-area" }));
    chart.append(svg("polyline", { points: line, class: "spark-line" }));
    const [lx, ly] = points[points.length - 1];
    chart.append(svg("circle", { cx: lx, cy: ly, r: 4, class: "spark-dot" }));
  }
  fill(box, [chart]);
  setText(byId("spark-last"), numbers.length ? fmtInt(numbers[numbers.length - 1]) : "—");
}

let healths = new Map(); // code -> {status, reasons}
const paging = { page: 0, pages: 1, perPage: Infinity, timer: null };

function computeHealth() {
  const byUnit = alertsByUnit(board.alerts.values());
  healths = new Map();
  for (const unit of board.units.values()) if (unit.kind !== "city") healths.set(unit.code, unitHealth(unit, byUnit.get(unit.code) ?? []));
}

function healthOf(code) {
  return healths.get(code) ?? { status: "none", reasons: [] };
}

/** "Cần xử lý — 2 cảnh báo nghiêm trọng; …" (tooltip, panel, screen readers). */
export function healthText(health) {
  const reasons = health.reasons.map(([code, count]) => `${fmtInt(count)} ${t(`health.reason.${code}`)}`);
  return reasons.length ? `${t(`health.${health.status}`)} — ${reasons.join("; ")}` : t(`health.${health.status}`);
}

function orderedUnits() {
  const list = [...board.units.values()].filter((u) => u.kind !== "city");
  const rank = (u) => STATUSES.length - STATUSES.indexOf(healthOf(u.code).status);
  list.sort((a, b) => {
    const da = DEPARTMENT_KINDS.has(a.kind) ? 0 : 1;
    const db = DEPARTMENT_KINDS.has(b.kind) ? 0 : 1;
    return rank(a) - rank(b) || da - db || shortName(a).localeCompare(shortName(b), "vi");
  });
  return list;
}

/**
 * Make `node` open the unit panel by mouse and keyboard (Enter, Space): a button, or for a
 * list row its content wrapped in one (the row stays a list item).
 */
function opens(node, code) {
  let button = node;
  if (node.tagName !== "BUTTON") {
    button = el("button", { class: "row-button", attrs: { type: "button" } }, ...node.childNodes);
    node.replaceChildren(button);
    const label = node.getAttribute("aria-label");
    if (label) {
      button.setAttribute("aria-label", label);
      node.removeAttribute("aria-label");
    }
  }
  button.dataset.code = code;
  if (node.dataset.fingerprint) button.dataset.fingerprint = node.dataset.fingerprint;
  button.addEventListener("click", () => openPanel(code, button));
  return node;
}

function renderTiles() {
  const grid = byId("tiles");
  const units = orderedUnits();
  const counts = { act: 0, watch: 0, ok: 0, none: 0 };
  const seen = new Set();
  const nodes = [];
  for (const unit of units) {
    seen.add(unit.code);
    let tile = tiles.get(unit.code);
    if (!tile) {
      const name = el("span", { class: "tile-name" });
      const count = el("span", { class: "tile-count" });
      const node = opens(el("button", { class: "tile", attrs: { type: "button" } }, name, count), unit.code);
      tile = { node, name, count };
      tiles.set(unit.code, tile);
    }
    const health = healthOf(unit.code);
    counts[health.status] += 1;
    const overdue = unit.gauges?.overdue ?? 0;
    tile.node.className = `tile health-${health.status}${DEPARTMENT_KINDS.has(unit.kind) ? " dept" : ""}`;
    tile.node.dataset.health = health.status;
    const label = `${pick(unit, "name")} (${unit.code}) — ${healthText(health)}${overdue ? ` — ${t("kpi.overdue")}: ${fmtInt(overdue)}` : ""}`;
    tile.node.title = `${label}\n${t("health.rule")}`;
    tile.node.setAttribute("aria-label", `${label}. ${t("tile.open")}`);
    setText(tile.name, shortName(unit));
    setText(tile.count, overdue ? fmtInt(overdue) : "");
    nodes.push(tile.node);
  }
  for (const code of [...tiles.keys()]) if (!seen.has(code)) tiles.delete(code);
  for (const status of Object.keys(counts)) setText(byId(`n-${status}`), fmtInt(counts[status]));
  fitTiles(grid, nodes);
}

/**
 * Lay the tiles out at the wall's type size (names never shrink below --fs-m): as many
 * columns and rows as fit; when every unit does not fit, the grid shows pages in turn
 * (worst units first, so page 1 always holds the units that need action).
 */
function fitTiles(grid, nodes) {
  const width = grid.clientWidth;
  const height = grid.clientHeight;
  const font = parseFloat(window.getComputedStyle(grid.parentElement).fontSize) || 16;
  const size = nodes.map((node) => (node.classList.contains("dept") ? 2 : 1));
  const slots = size.reduce((a, b) => a + b, 0);
  const narrow = window.matchMedia("(max-width: 900px)").matches;
  if (!nodes.length || !width || !height || narrow) {
    paging.pages = 1;
    paging.page = 0;
    grid.style.removeProperty("--cols");
    grid.style.removeProperty("--row");
    place(grid, nodes);
    setText(byId("tiles-page"), "");
    return;
  }
  const cols = Math.max(2, Math.floor((width + TILE_GAP) / (TILE_MIN_WIDTH * font + TILE_GAP)));
  const maxRows = Math.max(1, Math.floor((height + TILE_GAP) / (TILE_MIN_HEIGHT * font + TILE_GAP)));
  // Pages: fill rows greedily (a department spans two columns).
  const pages = [[]];
  let row = 0;
  let col = 0;
  nodes.forEach((node, i) => {
    if (col + size[i] > cols) {
      row += 1;
      col = 0;
    }
    if (row >= maxRows) {
      pages.push([]);
      row = 0;
      col = 0;
    }
    pages[pages.length - 1].push(node);
    col += size[i];
  });
  const rows = pages.length > 1 ? maxRows : Math.max(1, Math.min(maxRows, Math.ceil(slots / cols) + (row > 0 ? 0 : 0)));
  const used = pages.length > 1 ? maxRows : row + 1;
  const rowHeight = Math.floor((height - (Math.max(rows, used) - 1) * TILE_GAP) / Math.max(rows, used));
  grid.style.setProperty("--cols", String(cols));
  grid.style.setProperty("--row", `${Math.max(rowHeight, Math.ceil(TILE_MIN_HEIGHT * font))}px`);
  paging.pages = pages.length;
  if (paging.page >= pages.length) paging.page = 0;
  place(grid, pages[paging.page]);
  setText(byId("tiles-page"), pages.length > 1 ? `${t("tiles.page")} ${paging.page + 1}/${pages.length} · ${fmtInt(nodes.length)} ${t("tiles.count")}` : `${fmtInt(nodes.length)} ${t("tiles.count")}`);
}

function place(grid, nodes) {
  const current = [...grid.children];
  if (current.length !== nodes.length || current.some((node, i) => node !== nodes[i])) {
    const focused = document.activeElement;
    fill(grid, nodes);
    if (focused && nodes.includes(focused)) focused.focus({ preventScroll: true });
  }
}

function turnPage() {
  const panelOpen = byId("unit-panel").open;
  const focusInTiles = byId("tiles").contains(document.activeElement);
  if (paging.pages > 1 && !panelOpen && !focusInTiles) {
    paging.page = (paging.page + 1) % paging.pages;
    renderTiles();
  }
}

window.setInterval(turnPage, PAGE_SECONDS * 1000);
// Kiosk remotes (and tests) can turn the page at once.
document.addEventListener("govpulse:next-page", () => {
  paging.page = (paging.page + 1) % paging.pages;
  renderTiles();
});
// Re-fit whenever the grid's box changes (window resize, a banner shown or hidden).
let lastBox = "";
new ResizeObserver(() => {
  const grid = byId("tiles");
  const box = `${grid.clientWidth}x${grid.clientHeight}`;
  if (box !== lastBox) {
    lastBox = box;
    renderTiles();
  }
}).observe(byId("tiles"));

// -- the unit panel --------------------------------------------------------------------

const panel = { node: byId("unit-panel"), code: null, board: null, opener: null };

function openPanel(code, opener) {
  if (panel.board) panel.board.stop();
  panel.code = code;
  panel.opener = opener ?? null;
  // A second connection, scoped to the unit's queue (the wall token reads every unit).
  panel.board = new Board({ view: code });
  panel.board.on("reset", renderPanel);
  panel.board.on("change", renderPanel);
  panel.board.start();
  renderPanel();
  if (!panel.node.open) panel.node.showModal();
  panel.node.querySelector(".panel-close")?.focus();
}

panel.node.addEventListener("close", () => {
  if (panel.board) panel.board.stop();
  panel.board = null;
  panel.code = null;
  const opener = panel.opener;
  panel.opener = null;
  if (opener && opener.isConnected) opener.focus();
  else byId("tiles").querySelector(".tile")?.focus();
});
panel.node.addEventListener("click", (event) => {
  if (event.target === panel.node) panel.node.close(); // a click on the backdrop
});

function renderPanel() {
  const code = panel.code;
  if (!code) return;
  const unit = board.units.get(code) ?? { code };
  const health = healthOf(code);
  const day = today(unit);
  const gauges = unit.gauges ?? {};
  const close = el("button", { class: "btn panel-close", text: t("panel.close"), attrs: { type: "button" } });
  close.addEventListener("click", () => panel.node.close());
  const figure = (key, value) => el("div", { class: "kpi" }, el("span", { class: "kpi-label", text: t(key) }), el("span", { class: "kpi-value", text: value }));
  const alerts = [...board.alerts.values()].filter((a) => a.unit === code && a.state !== "resolved").sort(compareAlerts);
  const now = panel.board?.clockNow() ?? board.clockNow();
  const queue = panel.board && panel.board.state === "live" ? [...panel.board.queue.values()].sort((a, b) => (a.due ?? Infinity) - (b.due ?? Infinity)).slice(0, 12) : null;
  // Keep keyboard focus on the same control across re-renders (figures change every second).
  const focusable = () => [...panel.node.querySelectorAll("a, button")];
  const focusedAt = focusable().indexOf(document.activeElement);
  fill(panel.node, [
    el(
      "header",
      {},
      el("h2", { text: pick(unit, "name") || code, attrs: { id: "panel-title" } }),
      el("span", { class: `health-chip health-${health.status}`, text: t(`health.${health.status}`) }),
      el("a", { class: "btn", text: t("panel.open_page"), attrs: { href: `/unit/${encodeURIComponent(code)}` } }),
      close,
    ),
    el("p", { class: "reasons", text: `${healthText(health)}. ${t("health.rule")}` }),
    el(
      "div",
      { class: "summary" },
      figure("kpi.received", fmtInt(day.received)),
      figure("kpi.resolved", fmtInt(day.resolved)),
      figure("kpi.on_time", fmtPct(day.on_time_rate)),
      figure("kpi.open", fmtInt(gauges.open)),
      figure("kpi.overdue", fmtInt(gauges.overdue)),
      figure("kpi.due_soon", fmtInt(gauges.due_soon)),
      figure("kpi.p90", fmtLatency(day.latency?.p90)),
    ),
    el("h3", { text: `${t("panel.alerts")} (${fmtInt(alerts.length)})` }),
    alerts.length ? el("ul", { class: "ticker" }, ...alerts.map(tickerLine)) : el("p", { class: "empty", text: t("ticker.none") }),
    el("h3", { text: t("panel.queue") }),
    queue === null
      ? el("p", { class: "empty", text: t("panel.loading") })
      : queue.length
        ? el(
            "ul",
            { class: "panel-queue" },
            ...queue.map((item) =>
              el(
                "li",
                {},
                el("span", { text: item.id }),
                el("span", { text: `${t("col.due")}: ${fmtDateTime(item.due)}` }),
                el("span", { class: (item.due ?? Infinity) <= now ? "late" : "", text: fmtDuration((item.due ?? now) - now) }),
                el("span", { text: item.title ?? "" }),
              ),
            ),
          )
        : el("p", { class: "empty", text: t("unit.queue.none") }),
  ]);
  if (focusedAt >= 0) focusable()[focusedAt]?.focus();
}

function renderWorst() {
  const units = [...board.units.values()].filter((u) => u.kind !== "city");
  const rated = units
    .filter((u) => typeof today(u).on_time_rate === "number" && (today(u).resolved ?? 0) > 0)
    .sort((a, b) => today(a).on_time_rate - today(b).on_time_rate || (today(b).resolved ?? 0) - (today(a).resolved ?? 0))
    .slice(0, 6);
  const overdue = units
    .filter((u) => (u.gauges?.overdue ?? 0) > 0)
    .sort((a, b) => (b.gauges.overdue ?? 0) - (a.gauges.overdue ?? 0))
    .slice(0, 6);
  const row = (unit, value) => {
    const status = healthOf(unit.code).status;
    const node = el("li", { class: `worst-item health-${status}`, title: healthText(healthOf(unit.code)) }, el("span", { class: "worst-name", text: pick(unit, "name") }), el("span", { class: "worst-value", text: value }));
    node.setAttribute("aria-label", `${pick(unit, "name")}: ${value} — ${t(`health.${status}`)}. ${t("tile.open")}`);
    return opens(node, unit.code);
  };
  keepFocus(byId("worst-on-time"), rated.length ? rated.map((u) => row(u, fmtPct(today(u).on_time_rate))) : [el("li", { class: "empty", text: t("worst.none") })]);
  keepFocus(byId("worst-overdue"), overdue.length ? overdue.map((u) => row(u, fmtInt(u.gauges.overdue))) : [el("li", { class: "empty", text: t("worst.none") })]);
}

/** Replace a list's rows, keeping keyboard focus on the row of the same unit. */
function keepFocus(list, nodes) {
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const index = focused ? [...list.children].indexOf(focused.closest("li")) : -1;
  fill(list, nodes);
  if (!focused) return;
  const buttons = nodes.map((n) => n.querySelector("button")).filter(Boolean);
  const same = buttons.find((b) => b.dataset.code === focused.dataset.code && b.dataset.fingerprint === focused.dataset.fingerprint);
  (same ?? buttons[Math.min(index, buttons.length - 1)])?.focus();
}

function renderTicker() {
  const alerts = [...board.alerts.values()].sort(compareNewest).slice(0, 14);
  keepFocus(byId("ticker"), alerts.length ? alerts.map((a) => opens(tickerLine(a), a.unit)) : [el("li", { class: "empty", text: t("ticker.none") })]);
  const firingCritical = [...board.alerts.values()].filter((a) => a.severity === "critical" && a.state === "firing").length;
  setText(byId("critical-count"), firingCritical ? fmtInt(firingCritical) : "0");
  byId("critical-box").classList.toggle("hot", firingCritical > 0);
}

function showBanner(alert) {
  banner.items = [alert, ...banner.items.filter((a) => a.fingerprint !== alert.fingerprint)].slice(0, 3);
  renderBanner();
  window.clearTimeout(banner.timer);
  banner.timer = window.setTimeout(() => {
    banner.items = [];
    renderBanner();
  }, BANNER_SECONDS * 1000);
}

function renderBanner() {
  const wasShown = !banner.node.hidden;
  // Drop alerts that stopped firing (acknowledged or resolved elsewhere).
  banner.items = banner.items.filter((a) => board.alerts.get(a.fingerprint)?.state === "firing");
  const node = banner.node;
  if (!banner.items.length) {
    node.hidden = true;
    document.body.classList.remove("has-banner");
    if (wasShown) renderTiles();
    return;
  }
  const dismiss = el("button", { class: "banner-dismiss", text: t("banner.dismiss"), attrs: { type: "button" } });
  dismiss.addEventListener("click", () => {
    banner.items = [];
    renderBanner();
  });
  fill(node, [
    el("span", { class: "banner-label", text: t("banner.critical") }),
    el(
      "ul",
      { class: "banner-list" },
      ...banner.items.map((a) =>
        el(
          "li",
          {},
          el("span", { class: "banner-unit", text: pick(a, "unit_name") || a.unit }),
          el("span", { class: "banner-title", text: pick(a, "title") }),
          el("span", { class: "banner-time", text: fmtTime(a.updated_at ?? a.opened_at) }),
        ),
      ),
    ),
    dismiss,
  ]);
  node.hidden = false;
  document.body.classList.add("has-banner");
  if (!wasShown) renderTiles();
}

const render = throttle(() => {
  computeHealth();
  renderKpis();
  renderTiles();
  renderWorst();
  renderTicker();
  renderBanner();
  renderPanel();
});

board.on("reset", render);
board.on("change", (change) => {
  if (becameCritical(change)) showBanner(change.value);
  render();
});
onLangChange(render);
board.start();
render();

// The indicators this page shows (docs/indicators.md): read over HTTP, not the feed.
mountCounts(takeToken, t);
