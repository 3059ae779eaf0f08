// Leaders: critical and escalated alerts first, filters, sound + flash on new critical
// alerts, acknowledge, request an explanation, read the explanation thread.

import {
  awaitsAnswer, becameCritical, compareAlerts, explanationThread, isPriority, reportCommand, severityBadge, stateBadge,
} from "./alerts.js";
import { Board, bindStatus, throttle } from "./board.js";
import { byId, el, fill, setText } from "./dom.js";
import { fmtDateTime, fmtInt, fmtPct } from "./format.js";
import { rateTitles } from "./formulas.js";
import { applyLabels, bindToggle, lang, onLangChange, pick, t } from "./i18n.js";
import { beep, enableSound, soundEnabled } from "./sound.js";

const board = new Board();
applyLabels(document);
bindToggle(byId("lang"));
bindStatus(board);

const cards = new Map(); // fingerprint -> card parts
const filters = { severity: byId("f-severity"), state: byId("f-state"), unit: byId("f-unit"), escalated: byId("f-escalated"), waiting: byId("f-waiting") };
const ANSWER_HIGHLIGHT_SECONDS = 120;
const answered = new Map(); // fingerprint -> until (ms) while a fresh answer is highlighted
// The card acted on keeps its place (and focus) while the person is still on it.
let acted = null; // {fingerprint, group, index}
let nextBox = 0;

/** What this page's token may do: the server refuses the rest anyway (web/protocol.py). */
function mayAct() {
  return (board.scope ?? board.claims?.scope) === "leader";
}

function announce(text) {
  const node = byId("announce");
  node.textContent = "";
  window.setTimeout(() => {
    node.textContent = text;
  }, 50);
}
const soundButton = byId("sound");
// On a phone the other (non-critical) alerts start folded: the priority ones fit the screen.
if (window.matchMedia("(max-width: 600px)").matches) byId("others-group").open = false;

soundButton.addEventListener("click", async () => {
  const on = await enableSound();
  soundButton.classList.toggle("on", on);
  setText(soundButton, t(on ? "sound.on" : "sound.enable"));
  if (on) beep(1);
});

function matches(alert) {
  const severity = filters.severity.value;
  const state = filters.state.value;
  if (severity !== "all" && alert.severity !== severity) return false;
  if (state === "active" && alert.state === "resolved") return false;
  if (state !== "active" && state !== "all" && alert.state !== state) return false;
  if (filters.escalated.checked && !((alert.escalation ?? 0) > 0)) return false;
  if (filters.waiting.checked && !awaitsAnswer(alert)) return false;
  const query = filters.unit.value.trim().toLocaleLowerCase("vi");
  if (query) {
    const hay = `${alert.unit ?? ""} ${alert.unit_name_vi ?? ""} ${alert.unit_name_en ?? ""}`.toLocaleLowerCase("vi");
    if (!hay.includes(query)) return false;
  }
  return true;
}

function card(alert) {
  let parts = cards.get(alert.fingerprint);
  if (!parts) {
    const head = el("div", { class: "card-head" });
    const title = el("h3", { class: "card-title" });
    const meta = el("div", { class: "card-meta" });
    const text = el("p", { class: "card-text" });
    const thread = el("div", { class: "card-thread" });
    const ack = el("button", { class: "btn ack", attrs: { type: "button" } });
    const ackResult = el("span", { class: "command-result" });
    const boxId = `explain-${(nextBox += 1)}`;
    const box = el("textarea", { class: "explain-text", attrs: { rows: "2", maxlength: "2000", id: boxId } });
    const boxLabel = el("label", { attrs: { for: boxId } });
    const ask = el("button", { class: "btn explain", attrs: { type: "button" } });
    const askResult = el("span", { class: "command-result" });
    const actions = el("div", { class: "card-actions" }, ack, ackResult);
    const summary = el("summary");
    const explain = el("details", { class: "card-explain" }, summary, boxLabel, box, el("div", { class: "row" }, ask, askResult));
    const node = el("article", { class: "card", attrs: { "data-fingerprint": alert.fingerprint, tabindex: "-1" } }, head, title, meta, text, actions, explain, thread);
    node.addEventListener("focusout", (event) => {
      if (acted?.fingerprint === alert.fingerprint && !node.contains(event.relatedTarget) && event.relatedTarget !== null) {
        acted = null;
        render();
      }
    });
    ack.addEventListener("click", () => {
      const group = node.parentElement;
      acted = { fingerprint: alert.fingerprint, group: group?.id ?? null, index: group ? [...group.children].indexOf(node) : -1 };
      node.focus();
      reportCommand(ackResult, board.command({ type: "ack", alert: alert.fingerprint })).then(
        () => announce(`${t("announce.ack")}: ${pick(alert, "title")}`),
        () => {},
      );
    });
    ask.addEventListener("click", () => {
      const value = box.value.trim();
      if (!value) {
        box.focus();
        return;
      }
      reportCommand(askResult, board.command({ type: "explain", alert: alert.fingerprint, text: value })).then(
        () => {
          box.value = "";
        },
        () => {},
      );
    });
    parts = { node, head, title, meta, text, thread, ack, box, ask, boxLabel, summary, explain, actions };
    cards.set(alert.fingerprint, parts);
  }
  const { node, head, title, meta, text, thread, ack, box, ask, boxLabel, summary, explain, actions } = parts;
  const fresh = (answered.get(alert.fingerprint) ?? 0) > Date.now();
  node.className = `card sev-${alert.severity} state-${alert.state}${(alert.escalation ?? 0) > 0 ? " escalated" : ""}${fresh ? " answer-new" : ""}`;
  const headBits = [severityBadge(alert), stateBadge(alert)];
  if ((alert.escalation ?? 0) > 0) headBits.push(el("span", { class: "badge escalation", text: `${t("escalation")} ${alert.escalation}` }));
  if (alert.silenced) headBits.push(el("span", { class: "badge silenced", text: t("silenced") }));
  if (fresh) headBits.push(el("span", { class: "badge state-resolved", text: t("explain.answered") }));
  else if (awaitsAnswer(alert)) headBits.push(el("span", { class: "badge waiting", text: t("explain.waiting") }));
  headBits.push(
    el(
      "span",
      { class: "card-unit" },
      el("a", { text: `${pick(alert, "unit_name") || alert.unit} · ${alert.unit}`, attrs: { href: `/unit/${encodeURIComponent(alert.unit ?? "")}` } }),
    ),
  );
  fill(head, headBits);
  setText(title, pick(alert, "title"));
  const metaBits = [`${t("alert.opened")}: ${fmtDateTime(alert.opened_at)}`];
  if (alert.item_id) metaBits.push(`${t("alert.item")}: ${alert.item_id}`);
  if (alert.acked_by) metaBits.push(`${t("alert.acked_by")}: ${alert.acked_by} (${fmtDateTime(alert.acked_at)})`);
  setText(meta, metaBits.join(" · "));
  if (alert.item_id) {
    // The item's timeline (/item/<id>): every event, both clocks, deadlines and alerts.
    meta.append(" · ", el("a", { class: "item-link", attrs: { href: `/item/${alert.item_id}` }, text: lang() === "en" ? "timeline" : "dòng thời gian" }));
  }
  setText(text, pick(alert, "text"));
  setText(ack, t("ack"));
  const allowed = mayAct();
  ack.hidden = alert.state !== "firing" || !allowed;
  actions.hidden = !allowed;
  explain.hidden = !allowed || alert.state === "resolved";
  box.placeholder = t("explain.request.placeholder");
  setText(boxLabel, t("explain.label"));
  setText(summary, t("explain.request"));
  setText(ask, t("explain.request"));
  const threadList = explanationThread(alert);
  fill(thread, threadList ? [el("h4", { text: t("explain.thread") }), threadList] : []);
  return node;
}

function place(container, nodes) {
  if (acted) {
    // The card acted on stays where it was (no re-sort out of view while the person is on it).
    const node = cards.get(acted.fingerprint)?.node;
    const at = node ? nodes.indexOf(node) : -1;
    if (at >= 0 && acted.group === container.id && acted.index >= 0) {
      nodes.splice(at, 1);
      nodes.splice(Math.min(acted.index, nodes.length), 0, node);
    }
  }
  const current = [...container.children];
  if (current.length === nodes.length && current.every((node, i) => node === nodes[i])) return;
  const focused = container.contains(document.activeElement) ? document.activeElement : null;
  fill(container, nodes);
  if (focused) {
    if (focused.isConnected && !focused.hidden) focused.focus({ preventScroll: true });
    else focused.closest?.(".card")?.focus({ preventScroll: true });
  }
}

function renderAlerts() {
  const all = [...board.alerts.values()];
  for (const fingerprint of [...cards.keys()]) if (!board.alerts.has(fingerprint)) cards.delete(fingerprint);
  const shown = all.filter(matches).sort(compareAlerts);
  const first = shown.filter(isPriority).map(card);
  const rest = shown.filter((a) => !isPriority(a)).map(card);
  place(byId("alerts-priority"), first.length ? first : [el("p", { class: "empty", text: t("alerts.none") })]);
  place(byId("alerts-others"), rest.length ? rest : [el("p", { class: "empty", text: t("alerts.none") })]);
  setText(byId("count-priority"), fmtInt(first.length));
  setText(byId("count-others"), fmtInt(rest.length));
  setText(byId("count-waiting"), fmtInt(all.filter(awaitsAnswer).length));
  // A hidden ack button cannot hold focus: the card acted on takes it.
  if (acted && document.activeElement === document.body) cards.get(acted.fingerprint)?.node.focus({ preventScroll: true });
}

function renderSummary() {
  const city = board.city();
  const day = city?.windows?.["1d"] ?? {};
  setText(byId("s-on-time"), fmtPct(day.on_time_rate));
  byId("s-on-time").title = rateTitles(day, city?.gauges).on_time;
  setText(byId("s-overdue"), fmtInt(city?.gauges?.overdue));
  const firing = [...board.alerts.values()].filter((a) => a.state === "firing");
  setText(byId("s-critical"), fmtInt(firing.filter((a) => a.severity === "critical").length));
  setText(byId("s-firing"), fmtInt(firing.length));
}

let flashTimer = null;
function flash(alert) {
  const node = byId("banner");
  fill(node, [
    el("span", { class: "banner-label", text: t("banner.critical") }),
    el("ul", { class: "banner-list" }, el("li", {}, el("span", { class: "banner-unit", text: pick(alert, "unit_name") || alert.unit }), el("span", { class: "banner-title", text: pick(alert, "title") }))),
  ]);
  node.hidden = false;
  document.body.classList.add("has-banner");
  window.clearTimeout(flashTimer);
  flashTimer = window.setTimeout(() => {
    node.hidden = true;
    document.body.classList.remove("has-banner");
  }, 30000);
  if (soundEnabled()) beep(3);
}

const render = throttle(() => {
  renderSummary();
  renderAlerts();
});

for (const control of Object.values(filters)) control.addEventListener("input", render);
board.on("reset", render);
board.on("change", (change) => {
  if (becameCritical(change)) flash(change.value);
  const before = change.previous?.explanations?.length ?? 0;
  const entries = Array.isArray(change.value?.explanations) ? change.value.explanations : [];
  if (change.kind === "alert" && change.previous && entries.length > before && entries[entries.length - 1]?.kind === "answer") {
    answered.set(change.key, Date.now() + ANSWER_HIGHLIGHT_SECONDS * 1000);
    window.setTimeout(render, ANSWER_HIGHLIGHT_SECONDS * 1000 + 50);
    announce(`${t("announce.answer")} ${pick(change.value, "unit_name") || change.value.unit}: ${pick(change.value, "title")}`);
  }
  if (change.kind === "alert" || change.kind === "unit") render();
});
onLangChange(() => {
  setText(soundButton, t(soundEnabled() ? "sound.on" : "sound.enable"));
  render();
});
board.start();
render();
