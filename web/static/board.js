// The board connection: token, websocket, snapshot + deltas, resume, heartbeats, staleness.
// Protocol: docs/protocol.md. Pages subscribe to changes and render; nothing here touches
// the DOM except the shared status bar (connection state, last update, STALE marker).

import { byId, el, fill, flag, setText } from "./dom.js";
import { compareIds, fmtAgo, fmtDateTime, fmtInt, fmtTime } from "./format.js";
import { t, onLangChange } from "./i18n.js";

const TOKEN_KEY = "govpulse.token";
const WALL_TOKEN_KEY = "govpulse.wall-token";
const WORKER_STALE_AFTER = 10; // seconds, as the server's heartbeat rule
const BACKOFF_START = 500;
const BACKOFF_MAX = 30000;

/**
 * What a token says about itself (scope, sub, exp, jti), read without verifying it: the page
 * only uses this to decide where to keep the token and what to show; the server verifies.
 */
export function tokenClaims(token) {
  try {
    const part = String(token).split(".")[1];
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

function store(kind, key, value) {
  try {
    const storage = kind === "local" ? window.localStorage : window.sessionStorage;
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    /* storage disabled: keep it in memory only */
  }
}

function read(kind, key) {
  try {
    return (kind === "local" ? window.localStorage : window.sessionStorage).getItem(key);
  } catch {
    return null;
  }
}

/** Forget the token this page uses (after the server refused it). */
export function forgetToken() {
  store("session", TOKEN_KEY, null);
  store("local", WALL_TOKEN_KEY, null);
}

/**
 * Read the token from ?token= or #token= (then hide it from the URL bar), else from storage.
 * A read-only wall token is kept in localStorage, so a kiosk survives a browser restart;
 * every other token only in sessionStorage (this tab).
 */
export function takeToken() {
  const url = new URL(window.location.href);
  const hash = new URLSearchParams(url.hash.startsWith("#") ? url.hash.slice(1) : url.hash);
  const fromUrl = url.searchParams.get("token") || hash.get("token");
  if (fromUrl) {
    if (tokenClaims(fromUrl)?.scope === "wall") store("local", WALL_TOKEN_KEY, fromUrl);
    else store("session", TOKEN_KEY, fromUrl);
    url.searchParams.delete("token");
    hash.delete("token");
    const rest = hash.toString();
    url.hash = rest ? `#${rest}` : "";
    window.history.replaceState(null, "", url.toString());
    return fromUrl;
  }
  return read("session", TOKEN_KEY) || read("local", WALL_TOKEN_KEY);
}

const KEY_FIELD = { unit: "code", alert: "fingerprint", queue: "id" };

/**
 * One live board connection with its state.
 *
 * Events (subscribe with `on(name, fn)`):
 *   "change"  ({kind, op, key, value, previous, live, recovered})  after a delta is applied
 *   "reset"   ({reason})                                  after a snapshot replaced the state
 *   "status"  ()                                          connection/staleness changed
 */
export class Board {
  constructor({ view = null } = {}) {
    this.view = view;
    this.token = takeToken();
    this.claims = this.token ? tokenClaims(this.token) : null;
    this.units = new Map();
    this.alerts = new Map();
    this.queue = new Map();
    this.epoch = null;
    this.seq = null;
    this.scope = null;
    this.heartbeatInterval = 5;
    this.state = this.token ? "connecting" : "notoken";
    if (this.token && typeof this.claims?.exp === "number" && this.claims.exp * 1000 <= Date.now()) {
      this.state = "expired";
      forgetToken();
    }
    this.lastHealthyAt = null; // Date.now() when the data was last known to be fresh
    this.lastMessageAt = 0; // performance.now() of the last frame of any kind
    this.lastUpdateAt = null; // Date.now() of the last snapshot/delta
    this.health = { stale: false, redis: "up", worker_age: null };
    this.clockBase = { now: Date.now() / 1000, at: performance.now(), speed: 1 };
    this.pendingReplay = null;
    this.listeners = new Map();
    this.pending = new Map();
    this.nextRef = 1;
    this.backoff = BACKOFF_START;
    this.ws = null;
    this.stopped = false;
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
  }

  emit(name, detail) {
    for (const fn of this.listeners.get(name) ?? []) {
      try {
        fn(detail);
      } catch (err) {
        console.error(`board listener ${name} failed`, err);
      }
    }
  }

  /** The board clock now (epoch seconds): heartbeat clock advanced at its speed. */
  clockNow() {
    const { now, at, speed } = this.clockBase;
    return now + ((performance.now() - at) / 1000) * speed;
  }

  /** True when the figures cannot be trusted right now. */
  get stale() {
    if (this.state !== "live") return true;
    const silentFor = (performance.now() - this.lastMessageAt) / 1000;
    if (silentFor > 3 * this.heartbeatInterval) return true;
    const h = this.health;
    return Boolean(h.stale) || h.redis !== "up" || h.worker_age === null || h.worker_age > WORKER_STALE_AFTER;
  }

  start() {
    if (!this.token || this.state === "expired") {
      this.emit("status");
      return;
    }
    this.connect();
    this.statusTimer = window.setInterval(() => this.emit("status"), 500);
  }

  connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${window.location.host}/ws`);
    this.ws = ws;
    this.state = this.epoch ? "reconnecting" : "connecting";
    this.emit("status");
    ws.addEventListener("open", () => {
      const frame = { type: "auth", token: this.token, batch: true };
      if (this.view) frame.view = this.view;
      if (this.epoch && this.seq && !this.pendingReplay) frame.resume = { epoch: this.epoch, seq: this.seq };
      ws.send(JSON.stringify(frame));
    });
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  closed(ws, event) {
    if (ws !== this.ws || this.stopped) return;
    this.ws = null;
    for (const [, pending] of this.pending) pending.reject({ code: "offline" });
    this.pending.clear();
    this.pendingReplay = null;
    if (event.code === 4401) {
      this.state = String(event.reason ?? "").includes("expired") ? "expired" : "unauthorized";
      forgetToken();
      this.emit("status");
      return;
    }
    if (event.code === 4403) {
      this.state = "forbidden";
      this.emit("status");
      return;
    }
    this.state = "reconnecting";
    this.emit("status");
    const delay = this.backoff * (0.75 + Math.random() * 0.5);
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX);
    window.setTimeout(() => this.connect(), delay);
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    this.lastMessageAt = performance.now();
    switch (frame.type) {
      case "snapshot":
        this.applySnapshot(frame);
        break;
      case "resume":
        this.applyResume(frame);
        break;
      case "delta":
        this.applyDelta(frame);
        break;
      case "batch":
        if (Array.isArray(frame.frames)) for (const delta of frame.frames) this.applyDelta(delta);
        break;
      case "heartbeat":
        this.applyHeartbeat(frame);
        break;
      case "accepted":
      case "error":
        this.settle(frame);
        break;
      default:
        break;
    }
  }

  setClock(now, speed) {
    if (typeof now === "number") this.clockBase = { now, at: performance.now(), speed: typeof speed === "number" ? speed : 1 };
  }

  applySnapshot(frame) {
    this.epoch = frame.epoch;
    this.seq = frame.seq;
    this.scope = frame.scope;
    this.view = frame.view ?? this.view;
    if (typeof frame.heartbeat === "number" && frame.heartbeat > 0) this.heartbeatInterval = frame.heartbeat;
    this.setClock(frame.clock?.now, frame.clock?.speed);
    this.units = indexBy(frame.units, "code");
    this.alerts = indexBy(frame.alerts, "fingerprint");
    this.queue = indexBy(frame.queue, "id");
    this.pendingReplay = null;
    this.state = "live";
    this.backoff = BACKOFF_START;
    this.lastUpdateAt = Date.now();
    this.lastHealthyAt = Date.now();
    this.emit("reset", { reason: frame.reason });
    this.emit("status");
  }

  applyResume(frame) {
    this.scope = frame.scope;
    if (typeof frame.heartbeat === "number" && frame.heartbeat > 0) this.heartbeatInterval = frame.heartbeat;
    this.setClock(frame.clock?.now, frame.clock?.speed);
    this.state = "live";
    this.backoff = BACKOFF_START;
    // Adopt the end position only once every replayed delta arrived.
    if (frame.count > 0) this.pendingReplay = { seq: frame.seq, remaining: frame.count };
    else this.seq = frame.seq;
    this.emit("status");
  }

  applyDelta(frame) {
    const map = frame.kind === "unit" ? this.units : frame.kind === "alert" ? this.alerts : frame.kind === "queue" ? this.queue : null;
    if (!map) return;
    if (frame.kind === "queue" && this.view && frame.unit !== this.view) return;
    const previous = map.get(frame.key) ?? null;
    if (frame.op === "upsert" && frame.data && typeof frame.data === "object") map.set(frame.key, frame.data);
    else map.delete(frame.key);
    this.seq = frame.seq;
    if (frame.recovered && this.pendingReplay) {
      this.pendingReplay.remaining -= 1;
      if (this.pendingReplay.remaining <= 0) {
        this.seq = this.pendingReplay.seq;
        this.pendingReplay = null;
      }
    }
    this.lastUpdateAt = Date.now();
    // Replayed deltas (after a reconnect) are news to this viewer too: they count as live.
    this.emit("change", { kind: frame.kind, op: frame.op, key: frame.key, value: map.get(frame.key) ?? null, previous, live: true, recovered: Boolean(frame.recovered) });
  }

  applyHeartbeat(frame) {
    this.setClock(frame.clock, frame.speed);
    this.health = { stale: frame.stale, redis: frame.redis, worker_age: frame.worker_age };
    if (!this.stale) this.lastHealthyAt = Date.now();
    if (!this.pendingReplay && frame.seq && frame.epoch === this.epoch && (!this.seq || compareIds(frame.seq, this.seq) > 0)) {
      this.seq = frame.seq;
    }
    this.emit("status");
  }

  /** Send a command; resolves with the accepted frame, rejects with {code, message}. */
  command(frame) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.state !== "live") {
        reject({ code: "offline" });
        return;
      }
      const ref = `c${this.nextRef++}`;
      this.pending.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, ref }));
      window.setTimeout(() => {
        const pending = this.pending.get(ref);
        if (pending) {
          this.pending.delete(ref);
          pending.reject({ code: "unavailable" });
        }
      }, 15000);
    });
  }

  settle(frame) {
    const pending = frame.ref ? this.pending.get(frame.ref) : null;
    if (!pending) {
      if (frame.type === "error") console.warn("board error", frame.code, frame.message);
      return;
    }
    this.pending.delete(frame.ref);
    if (frame.type === "accepted") pending.resolve(frame);
    else pending.reject(frame);
  }

  /** The city node (kind "city"). */
  city() {
    for (const unit of this.units.values()) if (unit.kind === "city") return unit;
    return null;
  }

  /** Close the connection for good (a wall panel's second board). */
  stop() {
    this.stopped = true;
    window.clearInterval(this.statusTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "closed by the page");
  }
}

function indexBy(values, field) {
  const map = new Map();
  for (const value of values ?? []) if (value && typeof value === "object" && value[field] !== undefined) map.set(String(value[field]), value);
  return map;
}

const SCOPE_LABEL = { wall: "scope.wall", leader: "scope.leader", unit: "scope.unit" };
const REFUSED = new Set(["notoken", "unauthorized", "expired", "forbidden"]);

/**
 * Keep the shared status bar in sync with `board`: the connection pill (#conn), when data
 * last arrived (#updated, real time), the board clock (#clock, labelled "demo clock" when it
 * runs faster than real time), who holds the token, the STALE marker (#stale), a full-width
 * bar saying since when the data stopped, and what to do when the page has no usable token.
 */
export function bindStatus(board) {
  const conn = byId("conn");
  const updated = byId("updated");
  const stale = byId("stale");
  const clock = document.getElementById("clock");
  const header = document.querySelector("header.topbar");
  const who = el("span", { class: "who", attrs: { id: "who" } });
  if (board.claims && typeof board.claims.sub === "string") conn.before(who);
  const bar = el("div", { class: "stale-banner", attrs: { id: "stale-banner", role: "status" } });
  bar.hidden = true;
  header?.after(bar);
  const notice = el("section", { class: "notice", attrs: { id: "token-notice", role: "alert" } });
  notice.hidden = true;
  document.querySelector("main")?.before(notice);
  const render = () => {
    const isStale = board.stale;
    const state = board.state === "live" && isStale ? "stale" : board.state;
    setText(conn, t(`conn.${state}`));
    conn.dataset.state = state;
    setText(updated, `${t("updated")}: ${board.lastUpdateAt ? fmtTime(board.lastUpdateAt / 1000) : t("never")}`);
    updated.title = t("updated.hint");
    if (board.claims && typeof board.claims.sub === "string") {
      const kind = String(board.claims.scope ?? "").split(":")[0];
      setText(who, `${board.claims.sub} · ${t(SCOPE_LABEL[kind] ?? "scope.unit")}`);
    }
    stale.hidden = !isStale || REFUSED.has(board.state);
    stale.title = t("stale.hint");
    flag(document.body, "is-stale", isStale && !REFUSED.has(board.state));
    const showBar = isStale && !REFUSED.has(board.state) && board.state !== "connecting";
    bar.hidden = !showBar;
    if (showBar) {
      const since = board.lastHealthyAt ?? board.lastUpdateAt;
      const reason = board.state === "live" ? t("stale.reason.data") : t("stale.reason.connection");
      fill(bar, [
        el("strong", { text: t("stale") }),
        el("span", { text: since ? `${t("stale.since")} ${fmtDateTime(since / 1000)} (${fmtAgo((Date.now() - since) / 1000)})` : t("stale.never") }),
        el("span", { text: reason }),
      ]);
    }
    const refused = REFUSED.has(board.state);
    notice.hidden = !refused;
    if (refused) {
      const page = window.location.pathname;
      fill(notice, [
        el("h2", { text: t(`conn.${board.state}`) }),
        el("p", { text: t(`notice.${board.state}`) }),
        el("p", { text: t("notice.how") }),
        el("code", { text: `govpulse token --scope ${page === "/" ? "wall --ttl 30d" : page.startsWith("/unit/") ? `unit:${page.split("/")[2] ?? "CODE"}` : "leader"} --subject "…"\n${window.location.origin}${page}#token=…` }),
      ]);
    }
    if (clock) {
      const speed = board.clockBase.speed;
      clock.hidden = board.state !== "live" && board.state !== "stale";
      setText(clock, speed !== 1 ? `${t("clock.demo")} (×${fmtInt(speed)}): ${fmtDateTime(board.clockNow())}` : `${t("clock")}: ${fmtTime(board.clockNow())}`);
      clock.title = t(speed !== 1 ? "clock.demo.hint" : "clock.hint");
    }
  };
  board.on("status", render);
  onLangChange(render);
  render();
}

/** Run `fn` at most once per 100 ms (timers, unlike animation frames, also run in hidden tabs). */
export function throttle(fn, ms = 100) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    window.setTimeout(() => {
      queued = false;
      fn();
    }, ms);
  };
}
