// Unit health: the status of a unit's tile from its active alerts and the day's rates.
// The same rule as alerts/health.py (README "Unit health"); tests/alerts/health_cases.json
// is the table both are tested against. Statuses say what to do (act / watch / ok / none);
// they are not alert severities.

export const STATUSES = ["none", "ok", "watch", "act"];
export const MIN_VOLUME = 10;
const ACTIVE = new Set(["firing", "acknowledged"]);
// Info alerts that announce rather than report a problem: they leave the status alone.
const HEADS_UP = new Set(["item_due_soon"]);
// Alerts of other boards (the indicator set, the notifier's receivers) are not about the
// unit's queue: they leave the status alone.
const OTHER_BOARDS = ["indicator_", "notify_"];

function number(value) {
  return typeof value === "number" && Number.isFinite(value) ? Math.trunc(value) : 0;
}

/**
 * The status of one unit.
 * @param {object|null} unit the unit's board panel (colour, windows["1d"], gauges)
 * @param {Iterable<object>} alerts the unit's alert records (any state)
 * @returns {{status: string, reasons: Array<[string, number]>}}
 */
export function unitHealth(unit, alerts, minVolume = MIN_VOLUME) {
  let critical = 0;
  let escalated = 0;
  let warning = 0;
  let notice = 0;
  for (const alert of alerts) {
    if (!alert || !ACTIVE.has(alert.state)) continue;
    if (OTHER_BOARDS.some((prefix) => String(alert.rule ?? "").startsWith(prefix))) continue;
    if (number(alert.escalation) > 0) escalated += 1;
    else if (alert.severity === "critical") critical += 1;
    else if (alert.severity === "warning") warning += 1;
    else if (alert.severity === "info" && !HEADS_UP.has(alert.rule)) notice += 1;
  }
  const panel = unit && typeof unit === "object" ? unit : {};
  const day = panel.windows && typeof panel.windows["1d"] === "object" && panel.windows["1d"] ? panel.windows["1d"] : {};
  const gauges = panel.gauges && typeof panel.gauges === "object" ? panel.gauges : {};
  const resolved = number(day.resolved);
  const reasons = [];
  if (escalated) reasons.push(["alert.escalated", escalated, "act"]);
  if (critical) reasons.push(["alert.critical", critical, "act"]);
  if (warning) reasons.push(["alert.warning", warning, "watch"]);
  if (notice) reasons.push(["alert.info", notice, "watch"]);
  if (panel.colour === "red") {
    const status = resolved >= minVolume ? "act" : "watch";
    reasons.push([status === "act" ? "rate.red" : "rate.red_low_volume", resolved, status]);
  } else if (panel.colour === "orange") {
    reasons.push(["rate.orange", resolved, "watch"]);
  }
  if (reasons.length) {
    const worst = reasons.reduce((w, [, , s]) => (STATUSES.indexOf(s) > STATUSES.indexOf(w) ? s : w), "none");
    return { status: worst, reasons: reasons.map(([code, count]) => [code, count]) };
  }
  const hasData = [day.received, resolved, gauges.open].some((v) => number(v) > 0);
  return { status: hasData || panel.colour === "green" ? "ok" : "none", reasons: [] };
}

/** Group alerts by unit code once per render (wall, leader). */
export function alertsByUnit(alerts) {
  const map = new Map();
  for (const alert of alerts) {
    if (!alert || typeof alert.unit !== "string") continue;
    if (!map.has(alert.unit)) map.set(alert.unit, []);
    map.get(alert.unit).push(alert);
  }
  return map;
}
