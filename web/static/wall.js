// The control-room wall: city KPIs, unit tiles, worst units, alert ticker, sparkline,
// and an impossible-to-miss banner for new critical alerts.

import { becameCritical, compareNewest, tickerLine } from "./alerts.js";
import { Board, bindStatus, throttle } from "./board.js";
import { byId, el, fill, setText, svg } from "./dom.js";
import { fmtInt, fmtPct, fmtTime, shortName } from "./format.js";
import { rateTitles } from "./formulas.js";
import { applyLabels, bindToggle, onLangChange, pick, t } from "./i18n.js";

const BANNER_SECONDS = 120;
const COLOURS = new Set(["green", "orange", "red", "grey"]);
const DEPARTMENT_KINDS = new Set(["department", "center"]);

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
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "spark-svg" });
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

function orderedUnits() {
  const list = [...board.units.values()].filter((u) => u.kind !== "city");
  list.sort((a, b) => {
    const da = DEPARTMENT_KINDS.has(a.kind) ? 0 : 1;
    const db = DEPARTMENT_KINDS.has(b.kind) ? 0 : 1;
    return da - db || shortName(a).localeCompare(shortName(b), "vi");
  });
  return list;
}

function renderTiles() {
  const grid = byId("tiles");
  const units = orderedUnits();
  const seen = new Set();
  const nodes = [];
  for (const unit of units) {
    seen.add(unit.code);
    let tile = tiles.get(unit.code);
    if (!tile) {
      const name = el("span", { class: "tile-name" });
      const count = el("span", { class: "tile-count" });
      const node = el("div", { class: "tile", attrs: { "data-code": unit.code } }, name, count);
      tile = { node, name, count };
      tiles.set(unit.code, tile);
    }
    const colour = COLOURS.has(unit.colour) ? unit.colour : "grey";
    const overdue = unit.gauges?.overdue ?? 0;
    tile.node.className = `tile colour-${colour}${DEPARTMENT_KINDS.has(unit.kind) ? " dept" : ""}`;
    tile.node.title = `${pick(unit, "name")} (${unit.code}) — ${t(`colour.${colour}`)}`;
    setText(tile.name, shortName(unit));
    setText(tile.count, overdue ? fmtInt(overdue) : "");
    nodes.push(tile.node);
  }
  for (const code of [...tiles.keys()]) if (!seen.has(code)) tiles.delete(code);
  const current = [...grid.children];
  if (current.length !== nodes.length || current.some((node, i) => node !== nodes[i])) fill(grid, nodes);
  fitTiles(grid, nodes.length);
}

/** Pick columns and rows so that every tile fits the panel without scrolling. */
function fitTiles(grid, count) {
  const width = grid.clientWidth;
  const height = grid.clientHeight;
  if (!count || !width || !height) return;
  let best = { score: -1, cols: 1, rows: count };
  for (let cols = 4; cols <= 40; cols++) {
    const rows = Math.ceil(count / cols);
    const w = (width - (cols - 1) * 4) / cols;
    const h = (height - (rows - 1) * 4) / rows;
    const score = Math.min(w / 1.25, h); // tiles a little wider than tall
    if (score > best.score) best = { score, cols, rows };
  }
  grid.style.setProperty("--cols", String(best.cols));
  grid.style.setProperty("--rows", String(best.rows));
}

window.addEventListener("resize", () => fitTiles(byId("tiles"), tiles.size));

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
  const row = (unit, value, colour) =>
    el("li", { class: `worst-item colour-${COLOURS.has(colour) ? colour : "grey"}` }, el("span", { class: "worst-name", text: pick(unit, "name") }), el("span", { class: "worst-value", text: value }));
  fill(byId("worst-on-time"), rated.length ? rated.map((u) => row(u, fmtPct(today(u).on_time_rate), u.colour)) : [el("li", { class: "empty", text: t("worst.none") })]);
  fill(byId("worst-overdue"), overdue.length ? overdue.map((u) => row(u, fmtInt(u.gauges.overdue), u.colour)) : [el("li", { class: "empty", text: t("worst.none") })]);
}

function renderTicker() {
  const alerts = [...board.alerts.values()].sort(compareNewest).slice(0, 14);
  fill(byId("ticker"), alerts.length ? alerts.map(tickerLine) : [el("li", { class: "empty", text: t("ticker.none") })]);
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
    if (wasShown) fitTiles(byId("tiles"), tiles.size);
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
  if (!wasShown) fitTiles(byId("tiles"), tiles.size);
}

const render = throttle(() => {
  renderKpis();
  renderTiles();
  renderWorst();
  renderTicker();
  renderBanner();
});

board.on("reset", render);
board.on("change", (change) => {
  if (becameCritical(change)) showBanner(change.value);
  render();
});
onLangChange(render);
board.start();
render();
