// "Notify me" (Web Push) and each alert's inbox, for the leader and unit pages.
//
// Standalone on purpose: its own websocket connection (same token, same /ws protocol), its
// own labels, no change to leader.js / unit.js. The service worker is /static/sw.js (scope
// /static/): it only shows pushed notifications, it never controls the pages.
// Every text from the server is put in with textContent, never as markup.

import { lang, onLangChange } from "./i18n.js";

const TOKEN_KEY = "govpulse.token";
const LABELS = {
  vi: {
    "notify.enable": "Nhận thông báo",
    "notify.on": "Đang nhận thông báo",
    "notify.off": "Tắt thông báo",
    "notify.denied": "Trình duyệt đã chặn thông báo cho trang này",
    "notify.unsupported": "Trình duyệt không hỗ trợ thông báo đẩy",
    "notify.unavailable": "Máy chủ chưa cấu hình thông báo đẩy",
    "notify.failed": "Không đăng ký được với dịch vụ đẩy của trình duyệt",
    "inbox.title": "Đã thông báo",
    "inbox.empty": "Chưa gửi thông báo nào",
    "inbox.loading": "Đang tải…",
    "status.pending": "đang gửi",
    "status.delivered": "đã gửi",
    "status.failed": "lỗi",
    "status.cancelled": "đã huỷ (đã tiếp nhận)",
    "channel.webhook": "SMS/Zalo (webhook)",
    "channel.email": "Thư điện tử",
    "channel.webpush": "Thông báo đẩy",
  },
  en: {
    "notify.enable": "Notify me",
    "notify.on": "Notifications on",
    "notify.off": "Turn off notifications",
    "notify.denied": "The browser blocks notifications for this page",
    "notify.unsupported": "This browser does not support push notifications",
    "notify.unavailable": "Push notifications are not configured on the server",
    "notify.failed": "Could not register with the browser's push service",
    "inbox.title": "Who was told",
    "inbox.empty": "No notification sent yet",
    "inbox.loading": "Loading…",
    "status.pending": "sending",
    "status.delivered": "delivered",
    "status.failed": "failed",
    "status.cancelled": "cancelled (acknowledged)",
    "channel.webhook": "SMS/Zalo (webhook)",
    "channel.email": "E-mail",
    "channel.webpush": "Push",
  },
};

function t(key) {
  return LABELS[lang()][key] ?? LABELS.vi[key] ?? key;
}

function token() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function b64urlToBytes(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** A small request/reply client over its own /ws connection. */
class Channel {
  constructor() {
    this.ws = null;
    this.pending = new Map();
    this.seq = 0;
    this.ready = null;
  }

  open() {
    if (this.ready) return this.ready;
    this.ready = new Promise((resolve, reject) => {
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      const ws = new WebSocket(`${scheme}://${window.location.host}/ws`);
      this.ws = ws;
      ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", token: token() })));
      ws.addEventListener("message", (event) => {
        const frame = JSON.parse(event.data);
        if (frame.type === "snapshot" || frame.type === "resume") resolve(this);
        const waiter = frame.ref && this.pending.get(frame.ref);
        if (waiter) {
          this.pending.delete(frame.ref);
          waiter(frame);
        }
      });
      ws.addEventListener("close", () => {
        this.ready = null;
        reject(new Error("closed"));
        for (const waiter of this.pending.values()) waiter({ type: "error", code: "closed" });
        this.pending.clear();
      });
    });
    return this.ready;
  }

  async ask(frame) {
    await this.open();
    const ref = `n${++this.seq}`;
    return new Promise((resolve) => {
      this.pending.set(ref, resolve);
      this.ws.send(JSON.stringify({ ...frame, ref }));
    });
  }
}

const channel = new Channel();

// -- "notify me" ------------------------------------------------------------------------

async function registration() {
  const reg = await navigator.serviceWorker.register("/static/sw.js", { scope: "/static/" });
  // navigator.serviceWorker.ready never resolves here: the pages are outside the worker's
  // scope (it shows notifications, it does not control pages). Wait for activation instead.
  const worker = reg.installing || reg.waiting;
  if (!reg.active && worker) {
    await new Promise((resolve) => {
      worker.addEventListener("statechange", () => worker.state === "activated" && resolve());
    });
  }
  tellLanguage(reg);
  return reg;
}

/** The worker shows notifications in the page's language (Vietnamese until told). */
function tellLanguage(reg) {
  if (reg && reg.active) reg.active.postMessage({ type: "lang", lang: lang() });
}

async function currentSubscription() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) return null;
  const reg = await navigator.serviceWorker.getRegistration("/static/");
  return reg ? reg.pushManager.getSubscription() : null;
}

function setButton(button, state, message) {
  button.dataset.state = state;
  button.textContent = state === "on" ? t("notify.on") : t("notify.enable");
  button.title = message ? t(message) : state === "on" ? t("notify.off") : "";
  const note = document.getElementById("notify-note");
  if (note) {
    note.textContent = message ? t(message) : "";
    note.hidden = !message;
  }
}

async function enable(button) {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    setButton(button, "off", "notify.unsupported");
    return;
  }
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    setButton(button, "off", "notify.denied");
    return;
  }
  const reg = await registration();
  const keyFrame = await channel.ask({ type: "push_key" });
  if (!keyFrame.key) {
    setButton(button, "off", "notify.unavailable");
    return;
  }
  let subscription;
  try {
    subscription = await reg.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: b64urlToBytes(keyFrame.key),
    });
  } catch {
    setButton(button, "off", "notify.failed");
    return;
  }
  const reply = await channel.ask({ type: "push_subscribe", subscription: subscription.toJSON() });
  setButton(button, reply.type === "push_subscribed" ? "on" : "off", reply.type === "push_subscribed" ? "" : "notify.failed");
}

async function disable(button) {
  const subscription = await currentSubscription();
  if (subscription) {
    await channel.ask({ type: "push_unsubscribe", endpoint: subscription.endpoint });
    await subscription.unsubscribe();
  }
  setButton(button, "off", "");
}

function mountButton() {
  const status = document.querySelector(".topbar .status");
  if (!status || document.getElementById("notify-me")) return;
  const button = document.createElement("button");
  button.id = "notify-me";
  button.type = "button";
  button.className = "notify-me";
  const note = document.createElement("span");
  note.id = "notify-note";
  note.className = "notify-note";
  note.hidden = true;
  status.prepend(button, note);
  setButton(button, "off", "");
  currentSubscription()
    .then((subscription) => subscription && setButton(button, "on", ""))
    .catch(() => {});
  button.addEventListener("click", () => {
    const action = button.dataset.state === "on" ? disable(button) : enable(button);
    action.catch(() => setButton(button, "off", "notify.failed"));
  });
  onLangChange(() => {
    setButton(button, button.dataset.state, "");
    if ("serviceWorker" in navigator) navigator.serviceWorker.getRegistration("/static/").then(tellLanguage).catch(() => {});
  });
  // registering early lets the worker show pushes even before the first click
  if ("serviceWorker" in navigator) registration().catch(() => {});
}

// -- inbox: who was told about each alert -------------------------------------------------

function when(at) {
  const d = new Date(at * 1000);
  return d.toLocaleString(lang() === "en" ? "en-GB" : "vi-VN", { timeZone: "Asia/Ho_Chi_Minh", hour12: false });
}

async function fillInbox(details, fingerprint) {
  const list = details.querySelector("ul");
  list.replaceChildren(Object.assign(document.createElement("li"), { textContent: t("inbox.loading") }));
  const reply = await channel.ask({ type: "inbox", alert: fingerprint });
  const rows = reply.type === "inbox" ? reply.deliveries : [];
  if (!rows.length) {
    list.replaceChildren(Object.assign(document.createElement("li"), { textContent: t("inbox.empty") }));
    return;
  }
  list.replaceChildren(
    ...rows.map((row) => {
      const item = document.createElement("li");
      item.className = `delivery ${row.status}`;
      item.dataset.status = row.status;
      item.textContent = `${when(row.at)} · ${t(`channel.${row.channel}`)} · ${row.receiver} · ${t(`status.${row.status}`)}${
        row.detail ? ` (${row.detail})` : ""
      }`;
      return item;
    }),
  );
}

function decorate(card) {
  if (card.querySelector(":scope > details.inbox")) return;
  const fingerprint = card.dataset.fingerprint;
  const details = document.createElement("details");
  details.className = "inbox";
  const summary = document.createElement("summary");
  summary.textContent = t("inbox.title");
  details.append(summary, document.createElement("ul"));
  details.addEventListener("toggle", () => {
    if (details.open) fillInbox(details, fingerprint).catch(() => {});
  });
  onLangChange(() => {
    summary.textContent = t("inbox.title");
  });
  card.append(details);
}

function watchCards() {
  for (const card of document.querySelectorAll("[data-fingerprint]")) decorate(card);
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) {
        if (!(node instanceof Element)) continue;
        if (node.matches("[data-fingerprint]")) decorate(node);
        for (const card of node.querySelectorAll("[data-fingerprint]")) decorate(card);
      }
    }
  }).observe(document.body, { childList: true, subtree: true });
}

function start() {
  mountButton();
  if (document.body.classList.contains("page-leader") || document.body.classList.contains("page-unit")) watchCards();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
