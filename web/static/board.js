// The board connection: token, websocket, snapshot + deltas, resume, heartbeats, staleness.
// Protocol: docs/protocol.md. Pages subscribe to changes and render; nothing here touches
// the DOM except the shared status bar (connection state, last update, STALE marker).

import { byId, flag, setText } from "./dom.js";
import { fmtTime, compareIds } from "./format.js";
import { t, onLangChange } from "./i18n.js";

const TOKEN_KEY = "govpulse.token";
const WORKER_STALE_AFTER = 10; // seconds, as the server's heartbeat rule
const BACKOFF_START = 500;
const BACKOFF_MAX = 30000;

/** Read the token from ?token= or #token= (then hide it from the URL bar), else sessionStorage. */
export function takeToken() {
  const url = new URL(window.location.href);
  const hash = new URLSearchParams(url.hash.startsWith("#") ? url.hash.slice(1) : url.hash);
  const fromUrl = url.searchParams.get("token") || hash.get("token");
  if (fromUrl) {
    try {
      window.sessionStorage.setItem(TOKEN_KEY, fromUrl);
    } catch {
      /* storage disabled: keep it in memory only */
    }
    url.searchParams.delete("token");
    hash.delete("token");
    const rest = hash.toString();
    url.hash = rest ? `#${rest}` : "";
    window.history.replaceState(null, "", url.toString());
    return fromUrl;
  }
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
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
    this.units = new Map();
    this.alerts = new Map();
    this.queue = new Map();
    this.epoch = null;
    this.seq = null;
    this.scope = null;
    this.heartbeatInterval = 5;
    this.state = this.token ? "connecting" : "notoken";
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
    if (!this.token) {
      this.emit("status");
      return;
    }
    this.connect();
    window.setInterval(() => this.emit("status"), 500);
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
    if (ws !== this.ws) return;
    this.ws = null;
    for (const [, pending] of this.pending) pending.reject({ code: "offline" });
    this.pending.clear();
    this.pendingReplay = null;
    if (event.code === 4401) {
      this.state = "unauthorized";
      try {
        window.sessionStorage.removeItem(TOKEN_KEY);
      } catch {
        /* ignore */
      }
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
}

function indexBy(values, field) {
  const map = new Map();
  for (const value of values ?? []) if (value && typeof value === "object" && value[field] !== undefined) map.set(String(value[field]), value);
  return map;
}

/** Keep the shared status bar (#conn, #updated, #stale, #clock) in sync with `board`. */
export function bindStatus(board) {
  const conn = byId("conn");
  const updated = byId("updated");
  const stale = byId("stale");
  const clock = document.getElementById("clock");
  const render = () => {
    const state = board.state;
    setText(conn, t(`conn.${state}`));
    conn.dataset.state = state;
    setText(updated, `${t("updated")}: ${board.lastUpdateAt ? fmtTime(board.lastUpdateAt / 1000) : t("never")}`);
    const isStale = board.stale;
    stale.hidden = !isStale;
    stale.title = t("stale.hint");
    flag(document.body, "is-stale", isStale);
    if (clock) setText(clock, `${t("clock")}: ${fmtTime(board.clockNow())}`);
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
