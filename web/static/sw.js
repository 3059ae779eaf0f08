// govpulse service worker: shows Web Push notifications sent by `govpulse notify`.
// Scope /static/: it never controls the board pages, it only receives pushes.
// The payload is JSON (notify/render.py push_payload); everything is shown as text.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// The page tells its language (notify.js); Vietnamese until then, as the board.
let language = "vi";
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "lang") language = event.data.lang === "en" ? "en" : "vi";
});

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title_vi: event.data ? event.data.text() : "govpulse" };
  }
  const english = language === "en";
  const title = (english ? data.title_en : data.title_vi) || data.title_vi || "govpulse";
  const body = (english ? data.body_en : data.body_vi) || "";
  const critical = data.severity === "critical" && data.status === "firing";
  event.waitUntil(
    self.registration.showNotification(title, {
      body,
      tag: data.id || undefined,
      renotify: false,
      requireInteraction: critical,
      data: { url: data.url || "/leader", id: data.id, severity: data.severity, status: data.status },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/leader";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (new URL(client.url).pathname === new URL(url, self.location.origin).pathname && "focus" in client) {
          return client.focus();
        }
      }
      return self.clients.openWindow(url);
    }),
  );
});
