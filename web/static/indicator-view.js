// Indicator rows from /indicators.json, and how one is drawn: shared by the /indicators
// page, the wall (counts per colour) and the unit page (its own indicators).
// Rows are data (staff notes included): text only, never markup.

import { el, svg } from "./dom.js";
import { lang } from "./i18n.js";

/**
 * Fetch the rows a token may see. Resolves {status, body}: status 200 with the document,
 * 401/403 with {error}, 0 when the server did not answer.
 */
export async function fetchIndicators(token, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
  try {
    const response = await fetch(`/indicators.json?${query}`, {
      headers: { Authorization: `Bearer ${token ?? ""}` },
      cache: "no-store",
    });
    return { status: response.status, body: await response.json() };
  } catch {
    return { status: 0, body: null };
  }
}

/** A number in the page's language: thousands grouped, at most one decimal. */
export function fmtValue(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  const locale = lang() === "vi" ? "vi-VN" : "en-GB";
  return value.toLocaleString(locale, { maximumFractionDigits: Math.abs(value) < 10 ? 2 : 1 });
}

/** The gap as a signed percentage of the target ("−13,3 %"). */
export function fmtGap(gap) {
  if (typeof gap !== "number" || !Number.isFinite(gap)) return "—";
  const sign = gap > 0 ? "+" : gap < 0 ? "−" : "";
  return `${sign}${fmtValue(Math.abs(gap) * 100)} %`;
}

/** The plan curve as [share of the period elapsed, expected value] points. */
function planPoints(row) {
  if (row.kind === "cumulative") {
    const plan = row.plan ?? null;
    if (!plan) return [[0, 0], [1, row.target]];
    const months = plan.length;
    return [[0, 0], ...plan.map((share, index) => [(index + 1) / months, share * row.target])];
  }
  return [[0, row.target], [1, row.target]];
}

/** A small SVG chart: reported values (blue) against the plan (grey) and both projections (orange). */
export function chart(row) {
  const width = 170;
  const height = 44;
  const span = row.period_end - row.period_start;
  const x = (at) => Math.max(0, Math.min(1, (at - row.period_start) / span));
  const points = (row.points ?? []).map(([at, value]) => [x(at), value]);
  const inputs = row.inputs ?? {};
  const ends = [inputs.pace, inputs.trend].filter((v) => typeof v === "number" && Number.isFinite(v));
  const plan = planPoints(row);
  const values = [row.target, ...points.map((p) => p[1]), ...ends, ...plan.map((p) => p[1]), 0];
  const top = Math.max(...values) * 1.1 || 1;
  const bottom = Math.min(...values);
  const px = (share) => (2 + share * (width - 4)).toFixed(1);
  const py = (value) => (height - 2 - ((value - bottom) / (top - bottom || 1)) * (height - 4)).toFixed(1);
  const line = (pts) => pts.map(([s, v]) => `${px(s)},${py(v)}`).join(" ");
  const root = svg("svg", { class: "ind-chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  root.append(svg("polyline", { class: "plan", points: line(plan) }));
  root.append(svg("line", { class: "target", x1: px(0), x2: px(1), y1: py(row.target), y2: py(row.target) }));
  if (points.length) {
    root.append(svg("polyline", { class: "actual", points: line(points) }));
    const last = points[points.length - 1];
    for (const end of ends) root.append(svg("polyline", { class: "projection", points: line([last, [1, end]]) }));
  }
  const title = svg("title");
  title.textContent = lang() === "vi" ? "Thực hiện (xanh), kế hoạch (xám), dự báo (cam)" : "Reported (blue), plan (grey), projections (orange)";
  root.append(title);
  return root;
}

/** A colour dot with its status as text for screen readers. */
export function dot(status) {
  return el("span", { class: `dot ${status}`, attrs: { "aria-label": status, role: "img" } });
}

const STATUSES = ["red", "orange", "green", "grey"];

function section(className, titleKey, t) {
  const main = document.querySelector("main") ?? document.body;
  const node = el("section", { class: `ind-panel ${className}` },
    el("h2", {}, el("a", { text: t(titleKey), attrs: { href: "/indicators", "data-i18n": titleKey } })));
  main.append(node);
  return node;
}

/**
 * The wall's count of indicators per colour (links to /indicators), refreshed every minute.
 * @param {() => string|null} token the page's token (from board.js)
 * @param {(key: string) => string} t the label function
 */
export function mountCounts(token, t) {
  // In the top bar, where a wall display always shows it; a link to the full list.
  const bar = document.querySelector(".topbar .status");
  const counts = el("a", { class: "ind-wall-counts", title: t("ind.wall"), attrs: { href: "/indicators" } });
  if (bar) bar.prepend(counts);
  else section("ind-wall-panel", "ind.wall", t).append(counts);
  const refresh = async () => {
    const { status, body } = await fetchIndicators(token(), {});
    if (status !== 200) return;
    counts.replaceChildren(...STATUSES.map((s) =>
      el("span", { class: "ind-wall-count", title: t(`ind.${s}`) }, dot(s), el("b", { text: body.counts[s] ?? 0 }))));
  };
  refresh();
  setInterval(refresh, 60000);
}

/**
 * A unit's own indicators, worst first, with the run-rate each needs.
 * @param {() => string|null} token the page's token
 * @param {string} unit the unit code
 * @param {(key: string) => string} t the label function
 * @param {(obj: object, field: string) => string} pick the language picker
 */
export function mountUnitIndicators(token, unit, t, pick) {
  const node = section("ind-unit-panel", "ind.unit", t);
  const list = el("ul", { class: "ind-unit-list" });
  node.append(list);
  const refresh = async () => {
    const { status, body } = await fetchIndicators(token(), { unit });
    if (status !== 200) return;
    list.replaceChildren(...body.rows.map((row) => {
      const rate = row.inputs?.run_rate;
      const per = row.kind === "ratio" ? t("ind.cases") : row.measure;
      return el("li", { attrs: { "data-status": row.status } }, dot(row.status),
        el("span", { text: pick(row, "name") }),
        el("span", { class: "ind-sub", text: `${fmtValue(row.inputs?.current)} / ${fmtValue(row.target)} ${row.measure}` }),
        typeof rate === "number"
          ? el("span", { class: "ind-run-rate", text: `${t("ind.run_rate")} ${fmtValue(rate)} ${per}/${t("ind.per_day")}` })
          : null);
    }));
  };
  refresh();
  setInterval(refresh, 60000);
}
