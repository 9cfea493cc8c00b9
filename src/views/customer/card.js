// Registers the service worker so the card opens from the home screen, also offline.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/c/sw.js", { scope: "/c/" }).catch(function () {});
}
