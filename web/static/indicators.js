// The /indicators page: every indicator the token may see, red first, then orange, green,
// grey (each colour by gap); filters by group, owner unit and colour; a chart per row and
// a "why" panel with the verdict's inputs. Polls /indicators.json. A board connection
// (websocket) carries explanation requests on any indicator (leaders) and answers (the
// owner unit), and brings their threads (alerts indicator_explanation:CODE/UNIT/PERIOD).

import { awaitsAnswer, explanationThread, reportCommand } from "./alerts.js";
import { Board, takeToken } from "./board.js";
import { byId, el, fill, setText } from "./dom.js";
import { fmtDateTime } from "./format.js";
import { applyLabels, bindToggle, onLangChange, pick, t } from "./i18n.js";
import { chart, dot, fetchIndicators, fmtGap, fmtValue } from "./indicator-view.js";
import { namesReady, unitName } from "./names.js";

const POLL_MS = 15000;
const token = takeToken();
const open = new Set(); // row keys whose "why" panel is open
const params = new URLSearchParams(window.location.search);
const filters = { group: params.get("group") ?? "", unit: params.get("unit") ?? "", status: params.get("status") ?? "" };
let last = null;
let refusal = null; // the server's refusal of ?unit= for this token, kept on screen
const drafts = new Map(); // row key -> explanation text being written (kept across renders)
let deferred = false; // a render put off while an explanation is being typed
const board = new Board();

applyLabels(document);
bindToggle(byId("lang"));

const INPUTS = [
  "current", "as_of", "target", "expected", "expected_share", "elapsed", "pace", "trend",
  "projected", "projected_low", "gap", "reports", "days_left", "run_rate", "formula",
];

function inputText(name, value) {
  if (value === null || value === undefined) return "—";
  if (name === "as_of") return fmtDateTime(value);
  if (name === "gap") return fmtGap(value);
  if (name === "expected_share" || name === "elapsed") return `${fmtValue(value * 100)} %`;
  return typeof value === "number" ? fmtValue(value) : String(value);
}

function why(row) {
  const inputs = row.inputs ?? {};
  const table = el("table", {},
    ...INPUTS.filter((name) => name in inputs).map((name) =>
      el("tr", {}, el("td", { text: t(`ind.in.${name}`) }), el("td", { text: inputText(name, inputs[name]) }))));
  const history = el("ul", { class: "ind-history" },
    ...(row.history ?? []).slice().reverse().map((change) =>
      el("li", { text: `${fmtDateTime(change.at)}: ${t(`ind.${change.from ?? "none"}`)} → ${t(`ind.${change.to}`)} (${t(`ind.reason.${change.reason}`)})` })));
  return el("div", { class: "ind-why" },
    el("p", { class: "ind-reason", text: pick(row, "why") }),
    table,
    row.note ? el("p", {}, el("b", { text: `${t("ind.note")}: ` }), el("span", { class: "ind-note", text: row.note })) : null,
    el("p", { class: "ind-sub", text: `${t("ind.formula")} ${row.formula ?? "—"} · ${t("ind.since")} ${row.since ? fmtDateTime(row.since) : "—"}` }),
    // An at-risk indicator is an alert (indicator_at_risk): leaders request explanations
    // on it, and units answer, where they do for every alert.
    row.status === "red" && last?.scope !== "wall"
      ? el("p", {}, el("a", { text: t(last?.scope === "leader" ? "ind.explain.leader" : "ind.explain.unit"),
        attrs: { href: last?.scope === "leader" ? "/leader" : `/unit/${encodeURIComponent(row.owner)}` } }))
      : null,
    explanation(row),
    history);
}

/** The explanation thread of a row, and the form its reader may use: a leader requests on
 * any indicator; the owner unit answers an open request. The server checks both. */
function explanation(row) {
  const fingerprint = `indicator_explanation:${row.code}/${row.unit}/${row.period}`;
  const inquiry = board.alerts.get(fingerprint);
  const thread = inquiry ? explanationThread(inquiry) : null;
  const scope = last?.scope;
  const kind = scope === "leader" ? "request" : scope === `unit:${row.owner}` && inquiry && awaitsAnswer(inquiry) ? "answer" : null;
  if (!thread && !kind) return null;
  const parts = [el("h4", { text: t("explain.thread") }), thread];
  if (kind) {
    const box = el("textarea", { class: "explain-text ind-explain-text", attrs: { rows: "2", maxlength: "2000", placeholder: t(`explain.${kind}.placeholder`), "aria-label": t(`explain.${kind}`) } });
    box.value = drafts.get(row.key) ?? "";
    box.addEventListener("input", () => drafts.set(row.key, box.value));
    box.addEventListener("blur", () => { if (deferred) window.setTimeout(render, 0); });
    const send = el("button", { class: "btn explain ind-explain-send", text: t(`explain.${kind}`), attrs: { type: "button" } });
    const result = el("span", { class: "command-result", attrs: { role: "status" } });
    send.addEventListener("click", () => {
      const text = box.value.trim();
      if (!text) {
        box.focus();
        return;
      }
      reportCommand(result, board.command({ type: "explain", alert: fingerprint, text })).then(
        () => {
          box.value = "";
          drafts.delete(row.key);
        },
        () => {},
      );
    });
    parts.push(el("div", { class: "card-explain" }, box, el("div", { class: "row" }, send, result)));
  }
  return el("div", { class: "ind-explain", attrs: { "data-fingerprint": fingerprint } }, ...parts);
}

function rowNode(row) {
  const inputs = row.inputs ?? {};
  const button = el("button", { class: "ind-toggle", text: t("ind.why"), attrs: { type: "button", "aria-expanded": String(open.has(row.key)) } });
  button.addEventListener("click", () => {
    if (open.has(row.key)) open.delete(row.key);
    else open.add(row.key);
    render();
  });
  const gapClass = typeof row.gap === "number" ? (row.gap < 0 ? "bad" : "good") : "";
  const runRate = typeof inputs.run_rate === "number"
    ? `${t("ind.run_rate")}: ${fmtValue(inputs.run_rate)} ${row.kind === "ratio" ? t("ind.cases") : row.measure}/${t("ind.per_day")}` : "";
  const node = el("li", { class: `ind-row status-${row.status}`, attrs: { "data-key": row.key, "data-status": row.status } },
    dot(row.status),
    el("div", { class: "ind-title" },
      el("div", { class: "ind-name", text: pick(row, "name") }),
      el("div", { class: "ind-sub", text: `${row.code} · ${row.period} · ${pick(row, "why")}` })),
    el("div", { class: "ind-unit" },
      el("div", { text: unitName(row.unit) }),
      el("div", { class: "ind-sub", text: `${fmtValue(inputs.current)} / ${fmtValue(row.target)} ${row.measure}` }),
      runRate ? el("div", { class: "ind-sub ind-run-rate", text: runRate }) : null),
    chart(row),
    el("div", { class: `ind-gap ${gapClass}`, text: fmtGap(row.gap) }),
    el("div", { class: "ind-actions" }, button));
  if (open.has(row.key)) node.append(why(row));
  return node;
}

function options(select, values, label) {
  const current = select.value;
  fill(select, [el("option", { text: t("filter.all"), attrs: { value: "" } }),
    ...values.map((value) => el("option", { text: label(value), attrs: { value } }))]);
  select.value = values.includes(current) ? current : "";
}

function render() {
  if (!last) return;
  // Rebuilding the list while someone types would take the text box from under them.
  deferred = document.activeElement?.classList?.contains("ind-explain-text") ?? false;
  if (deferred) return;
  for (const status of ["red", "orange", "green", "grey"]) setText(byId(`count-${status}`), last.counts[status] ?? 0);
  options(byId("f-group"), last.groups, (g) => t(`ind.group.${g}`));
  options(byId("f-owner"), last.owners, (code) => unitName(code));
  options(byId("f-status"), ["red", "orange", "green", "grey"], (s) => t(`ind.${s}`));
  byId("f-owner").closest("label").hidden = last.scope.startsWith("unit:");
  const ownerFilter = last.scope.startsWith("unit:") ? "" : filters.unit; // the server scoped it
  const rows = last.rows.filter((row) =>
    (!filters.group || row.group === filters.group) && (!ownerFilter || row.owner === ownerFilter) && (!filters.status || row.status === filters.status));
  fill(byId("ind-list"), rows.map(rowNode));
  for (const button of document.querySelectorAll(".ind-count")) button.setAttribute("aria-pressed", String(button.dataset.status === filters.status));
  setText(byId("updated"), `${t("updated")} ${fmtDateTime(last.at)}`);
}

function message(text) {
  const node = byId("ind-message");
  node.hidden = !text;
  setText(node, text ?? "");
}

async function poll() {
  const { status, body } = await fetchIndicators(token, {});
  const state = byId("ind-state");
  if (status === 200) {
    last = body;
    state.dataset.state = "live";
    setText(state, t("conn.live"));
    message(refusal);
    render();
  } else if (status === 401 || !token) {
    state.dataset.state = "unauthorized";
    message(t(token ? "conn.unauthorized" : "conn.notoken"));
  } else if (status === 403) {
    state.dataset.state = "forbidden";
    message(`${t("conn.forbidden")}: ${body?.error ?? ""}`);
  } else {
    state.dataset.state = "reconnecting";
    setText(state, t("conn.reconnecting"));
  }
}

for (const [id, name] of [["f-group", "group"], ["f-owner", "unit"], ["f-status", "status"]]) {
  byId(id).value = filters[name];
  byId(id).addEventListener("change", (event) => {
    filters[name] = event.target.value;
    render();
  });
}
for (const button of document.querySelectorAll(".ind-count")) {
  button.addEventListener("click", () => {
    filters.status = filters.status === button.dataset.status ? "" : button.dataset.status;
    byId("f-status").value = filters.status;
    render();
  });
}
onLangChange(render);
namesReady().then(render);
board.on("change", ({ kind, key }) => {
  if (kind === "alert" && String(key).startsWith("indicator_explanation:")) render();
});
board.on("reset", render);
board.start();

// A unit token asking for another unit (?unit=X) is refused by the server, and shown so.
if (filters.unit) {
  fetchIndicators(token, { unit: filters.unit }).then(({ status, body }) => {
    if (status === 403) {
      refusal = `${t("conn.forbidden")}: ${body?.error ?? ""}`;
      message(refusal);
    }
  });
}
poll();
setInterval(poll, POLL_MS);
