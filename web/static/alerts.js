// Alert helpers shared by the pages: ordering, labels, "is this a new critical alert?".

import { el } from "./dom.js";
import { fmtDateTime, fmtTime } from "./format.js";
import { pick, t } from "./i18n.js";

const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
const STATE_RANK = { firing: 0, acknowledged: 1, resolved: 2 };

/** Critical or escalated alerts that are not resolved come first on the leader page. */
export function isPriority(alert) {
  return alert.state !== "resolved" && (alert.severity === "critical" || (alert.escalation ?? 0) > 0);
}

/** Order: state (firing first), severity, escalation (higher first), newest first. */
export function compareAlerts(a, b) {
  return (
    (STATE_RANK[a.state] ?? 3) - (STATE_RANK[b.state] ?? 3) ||
    (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3) ||
    (b.escalation ?? 0) - (a.escalation ?? 0) ||
    (b.updated_at ?? b.opened_at ?? 0) - (a.updated_at ?? a.opened_at ?? 0)
  );
}

/** Newest first (ticker). */
export function compareNewest(a, b) {
  return (b.updated_at ?? b.opened_at ?? 0) - (a.updated_at ?? a.opened_at ?? 0);
}

/**
 * Whether a live change made a critical alert fire: new, newly critical, re-fired or
 * escalated further.
 */
export function becameCritical(change) {
  const { kind, value, previous, live } = change;
  if (kind !== "alert" || !live || !value) return false;
  if (value.severity !== "critical" || value.state !== "firing" || value.silenced) return false;
  if (!previous) return true;
  return previous.state !== "firing" || previous.severity !== "critical" || (value.escalation ?? 0) > (previous.escalation ?? 0);
}

/** A severity badge. */
export function severityBadge(alert) {
  const severity = ["critical", "warning", "info"].includes(alert.severity) ? alert.severity : "info";
  return el("span", { class: `badge sev-${severity}`, text: t(`severity.${severity}`) });
}

/** A state badge. */
export function stateBadge(alert) {
  const state = ["firing", "acknowledged", "resolved"].includes(alert.state) ? alert.state : "firing";
  return el("span", { class: `badge state-${state}`, text: t(`state.${state}`) });
}

/**
 * Who wrote a thread entry: the token's subject (the person), and for answers the unit,
 * for requests "Lãnh đạo". Older records carried a bare "dev"/"operator": still shown as is.
 */
export function author(alert, entry) {
  const person = typeof entry.by === "string" && entry.by ? entry.by : "?";
  const role = entry.kind === "answer" ? pick(alert, "unit_name") || alert.unit : t("scope.leader");
  return `${person} (${role})`;
}

/** The explanation thread of an alert as a list (text only). */
export function explanationThread(alert) {
  const entries = Array.isArray(alert.explanations) ? alert.explanations : [];
  if (!entries.length) return null;
  return el(
    "ol",
    { class: "thread" },
    ...entries.map((entry) =>
      el(
        "li",
        { class: `thread-${entry.kind === "answer" ? "answer" : "request"}` },
        el(
          "div",
          { class: "thread-meta" },
          el("strong", { text: t(`explain.kind.${entry.kind === "answer" ? "answer" : "request"}`) }),
          el("span", { class: "thread-by", text: ` · ${author(alert, entry)} · ` }),
          el("time", { text: fmtDateTime(entry.at) }),
        ),
        el("p", { class: "thread-text", text: entry.text ?? "" }),
      ),
    ),
  );
}

/** Whether the last explanation entry is an unanswered request. */
export function awaitsAnswer(alert) {
  const entries = Array.isArray(alert.explanations) ? alert.explanations : [];
  return entries.length > 0 && entries[entries.length - 1].kind === "request" && alert.state !== "resolved";
}

/** One-line alert for the ticker. */
export function tickerLine(alert) {
  return el(
    "li",
    { class: `ticker-item sev-${alert.severity} state-${alert.state}`, attrs: { "data-fingerprint": String(alert.fingerprint ?? "") } },
    el("span", { class: "ticker-time", text: fmtTime(alert.updated_at ?? alert.opened_at) }),
    severityBadge(alert),
    el("span", { class: "ticker-unit", text: pick(alert, "unit_name") || alert.unit }),
    el("span", { class: "ticker-title", text: pick(alert, "title") }),
  );
}

/** Show a command's outcome next to the control that sent it (announced: role="status"). */
export function reportCommand(node, promise) {
  node.setAttribute("role", "status");
  node.className = "command-result pending";
  node.textContent = "…";
  promise.then(
    () => {
      node.className = "command-result ok";
      node.textContent = t("command.sent");
    },
    (error) => {
      const code = error && typeof error.code === "string" ? error.code : "other";
      const key = `command.error.${code}`;
      const text = t(key);
      node.className = "command-result error";
      node.textContent = text === key ? t("command.error.other") : text;
    },
  );
  return promise;
}
