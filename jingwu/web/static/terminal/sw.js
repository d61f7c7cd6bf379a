// Service worker of the officer terminal: keeps the terminal's page and static files so it opens
// without network. Network first (an update is picked up at once), the cache when offline.
// API calls are never cached: the outbox in the page holds offline actions.

const CACHE = "jingwu-terminal-v1";
const SHELL = [
  "/terminal",
  "/terminal.webmanifest",
  "/static/css/terminal.css",
  "/static/js/core.js",
  "/static/js/terminal-page.js",
  "/static/js/outbox.js",
  "/static/js/mapview.js",
  "/static/vendor/leaflet/leaflet.js",
  "/static/vendor/leaflet/leaflet.css",
  "/static/i18n/zh-Hant.json",
  "/static/i18n/zh-Hans.json",
  "/static/i18n/en.json",
  "/static/icons/icon.svg",
  "/static/icons/icon-192.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => Promise.all(SHELL.map((url) => cache.add(url).catch(() => null)))));
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  event.respondWith(
    fetch(event.request).then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(event.request, copy));
      }
      return response;
    }).catch(() => caches.match(event.request, { ignoreSearch: true })),
  );
});
