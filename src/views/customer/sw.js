// FealTY card pages offline: network first; without a network, the last copy of the page,
// marked as showing the last known balance.
const CACHE = "fealty-cards-v1";

self.addEventListener("install", function (event) {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", function (event) {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  event.respondWith(
    fetch(req)
      .then(function (res) {
        if (res.ok && (req.mode === "navigate" || url.pathname.startsWith("/assets/") || url.pathname.startsWith("/brand/") || url.pathname.startsWith("/c/icon"))) {
          const copy = res.clone();
          caches.open(CACHE).then(function (c) { c.put(req, copy); });
        }
        return res;
      })
      .catch(function () {
        return caches.match(req).then(function (hit) {
          if (!hit) return Response.error();
          if (req.mode !== "navigate") return hit;
          return hit.text().then(function (html) {
            const shown = html.replace('id="offline" hidden', 'id="offline"');
            return new Response(shown, { headers: { "Content-Type": "text/html; charset=utf-8" } });
          });
        });
      })
  );
});
