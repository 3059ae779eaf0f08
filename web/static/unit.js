// A unit's own board: its open queue with live countdowns (board clock, possibly
// accelerated), its counters, and the explanation requests it has to answer.

import { awaitsAnswer, compareAlerts, explanationThread, reportCommand, severityBadge, stateBadge } from "./alerts.js";
import { Board, bindStatus, takeToken, throttle } from "./board.js";
import { mountUnitIndicators } from "./indicator-view.js";
import { byId, el, fill, setText } from "./dom.js";
import { fmtDateTime, fmtDuration, fmtInt, fmtLatency, fmtPct } from "./format.js";
import { rateTitles } from "./formulas.js";
import { applyLabels, bindToggle, onLangChange, pick, t } from "./i18n.js";
import { unitHealth } from "./health.js";
import { categoryName, namesReady, unitName } from "./names.js";

const code = decodeURIComponent(window.location.pathname.split("/").filter(Boolean)[1] ?? "");
const board = new Board({ view: code });
applyLabels(document);
bindToggle(byId("lang"));
bindStatus(board);

const rows = new Map(); // item id -> row parts
const answers = new Map(); // fingerprint -> answer form parts

function itemState(item, now) {
  if (item.status === "paused") return "paused";
  if (item.overdue_at !== null && item.overdue_at !== undefined) return "overdue";
  if (typeof item.due === "number" && item.due <= now) return "overdue";
  if (item.due_soon) return "due_soon";
  return "open";
}

const COLUMN_LABEL = { id: "col.id", title: "col.title", category: "col.category", priority: "col.priority", due: "col.due", left: "col.left", status: "col.status" };

function row(item) {
  let parts = rows.get(item.id);
  if (!parts) {
    const cells = {
      id: el("td", { class: "c-id" }),
      title: el("td", { class: "c-title" }),
      category: el("td", { class: "c-category" }),
      priority: el("td", { class: "c-priority" }),
      due: el("td", { class: "c-due" }),
      left: el("td", { class: "c-left" }),
      status: el("td", { class: "c-status" }),
    };
    for (const [key, cell] of Object.entries(cells)) cell.dataset.col = key;
    const node = el("tr", { attrs: { "data-item": item.id } }, ...Object.values(cells));
    // A click opens the item's timeline (/item/<id>; the token stays in sessionStorage).
    node.addEventListener("click", () => window.location.assign(`/item/${parts.item.id}`));
    parts = { node, cells, item };
    rows.set(item.id, parts);
  }
  parts.item = item;
  const { cells } = parts;
  for (const cell of Object.values(cells)) cell.dataset.label = t(COLUMN_LABEL[cell.dataset.col]);
  setText(cells.id, item.id);
  setText(cells.title, item.title ?? "");
  cells.title.title = item.title ?? "";
  setText(cells.category, categoryName(item.category));
  setText(cells.priority, item.priority === "urgent" ? t("priority.urgent") : t("priority.normal"));
  setText(cells.due, fmtDateTime(item.due));
  return parts;
}

function tick() {
  const now = board.clockNow();
  for (const { node, cells, item } of rows.values()) {
    const state = itemState(item, now);
    node.className = `item item-${state}${item.priority === "urgent" ? " urgent" : ""}`;
    setText(cells.left, fmtDuration((item.due ?? now) - now));
    let status = t(`item.${state}`);
    if (item.appointment_at) status += ` · ${t("item.appointment")} ${fmtDateTime(item.appointment_at)}`;
    setText(cells.status, status);
  }
}

function renderQueue() {
  for (const id of [...rows.keys()]) if (!board.queue.has(id)) rows.delete(id);
  const items = [...board.queue.values()].sort((a, b) => (a.due ?? Infinity) - (b.due ?? Infinity) || String(a.id).localeCompare(String(b.id)));
  const body = byId("queue");
  const nodes = items.map((item) => row(item).node);
  fill(body, nodes.length ? nodes : [el("tr", { class: "empty" }, el("td", { text: t("unit.queue.none"), attrs: { colspan: "7" } }))]);
  setText(byId("queue-count"), fmtInt(items.length));
  tick();
}

function renderUnit() {
  const unit = board.units.get(code);
  const name = (unit && pick(unit, "name")) || unitName(code);
  setText(byId("unit-name"), name);
  setText(byId("unit-code"), code);
  document.title = `govpulse · ${name}`;
  const day = unit?.windows?.["1d"] ?? {};
  const gauges = unit?.gauges ?? {};
  setText(byId("u-received"), fmtInt(day.received));
  setText(byId("u-resolved"), fmtInt(day.resolved));
  setText(byId("u-on-time"), fmtPct(day.on_time_rate));
  setText(byId("u-late"), fmtPct(day.late_rate));
  const titles = rateTitles(day, gauges);
  byId("u-on-time").title = titles.on_time;
  byId("u-late").title = titles.late;
  setText(byId("u-open"), fmtInt(gauges.open));
  setText(byId("u-overdue"), fmtInt(gauges.overdue));
  setText(byId("u-due-soon"), fmtInt(gauges.due_soon));
  setText(byId("u-p90"), fmtLatency(day.latency?.p90));
  const health = unitHealth(unit ?? null, [...board.alerts.values()].filter((a) => a.unit === code));
  const chip = byId("unit-colour");
  chip.className = `unit-colour health-chip health-${health.status}`;
  setText(chip, t(`health.${health.status}`));
  const reasons = health.reasons.map(([reason, count]) => `${fmtInt(count)} ${t(`health.reason.${reason}`)}`).join("; ");
  chip.title = `${reasons ? `${reasons}. ` : ""}${t("health.rule")}`;
}

function answerForm(alert) {
  let parts = answers.get(alert.fingerprint);
  if (!parts) {
    const box = el("textarea", { class: "explain-text", attrs: { rows: "3", maxlength: "2000", id: `answer-${alert.fingerprint}` } });
    const label = el("label", { attrs: { for: `answer-${alert.fingerprint}` } });
    const send = el("button", { class: "btn explain", attrs: { type: "button" } });
    const result = el("span", { class: "command-result" });
    send.addEventListener("click", () => {
      const value = box.value.trim();
      if (!value) {
        box.focus();
        return;
      }
      reportCommand(result, board.command({ type: "explain", alert: alert.fingerprint, text: value })).then(
        () => {
          box.value = "";
        },
        () => {},
      );
    });
    parts = { box, send, label, form: el("div", { class: "card-explain" }, label, box, el("div", { class: "row" }, send, result)) };
    answers.set(alert.fingerprint, parts);
  }
  parts.box.placeholder = t("explain.answer.placeholder");
  setText(parts.label, t("explain.answer.label"));
  setText(parts.send, t("explain.answer"));
  return parts.form;
}

function alertCard(alert, withAnswer) {
  const head = el("div", { class: "card-head" }, severityBadge(alert), stateBadge(alert));
  if ((alert.escalation ?? 0) > 0) head.append(el("span", { class: "badge escalation", text: `${t("escalation")} ${alert.escalation}` }));
  return el(
    "article",
    { class: `card sev-${alert.severity} state-${alert.state}`, attrs: { "data-fingerprint": alert.fingerprint } },
    head,
    el("h3", { class: "card-title", text: pick(alert, "title") }),
    el("div", { class: "card-meta", text: `${t("alert.opened")}: ${fmtDateTime(alert.opened_at)}${alert.item_id ? ` · ${t("alert.item")}: ${alert.item_id}` : ""}` }),
    el("p", { class: "card-text", text: pick(alert, "text") }),
    explanationThread(alert),
    withAnswer ? answerForm(alert) : null,
  );
}

function renderAlerts() {
  const mine = [...board.alerts.values()].filter((a) => a.unit === code);
  const canAnswer = board.scope === `unit:${code}`;
  const waiting = mine.filter(awaitsAnswer).sort(compareAlerts);
  for (const fingerprint of [...answers.keys()]) if (!waiting.some((a) => a.fingerprint === fingerprint)) answers.delete(fingerprint);
  const requests = byId("requests");
  // Keep a form being typed in: only rebuild when the set of requests changed.
  const key = waiting.map((a) => `${a.fingerprint}:${a.explanations.length}`).join("|") + `|${canAnswer}`;
  if (requests.dataset.key !== key) {
    requests.dataset.key = key;
    fill(requests, waiting.length ? waiting.map((a) => alertCard(a, canAnswer)) : [el("p", { class: "empty", text: t("unit.requests.none") })]);
  }
  const others = mine.filter((a) => !awaitsAnswer(a) && a.state !== "resolved").sort(compareAlerts);
  fill(byId("unit-alerts"), others.length ? others.map((a) => alertCard(a, false)) : [el("p", { class: "empty", text: t("ticker.none") })]);
}

const render = throttle(() => {
  renderUnit();
  renderQueue();
  renderAlerts();
});

board.on("reset", render);
board.on("change", render);
onLangChange(() => {
  byId("requests").dataset.key = "";
  render();
});
window.setInterval(tick, 1000);
board.start();
render();
namesReady().then(render);

// The indicators this page shows (docs/indicators.md): read over HTTP, not the feed.
mountUnitIndicators(takeToken, code, t, pick);
