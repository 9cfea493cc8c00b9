// Registers the service worker so the card opens from the home screen, also offline.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/c/sw.js", { scope: "/c/" }).catch(function () {});
}
// "Add to home screen": the browser's own install prompt, where it offers one (Android Chrome).
var installPrompt = null;
window.addEventListener("beforeinstallprompt", function (e) {
  e.preventDefault();
  installPrompt = e;
  var b = document.getElementById("install");
  if (b) b.hidden = false;
});
document.addEventListener("click", function (e) {
  var t = e.target;
  if (t && t.id === "install" && installPrompt) {
    installPrompt.prompt();
    installPrompt = null;
    t.hidden = true;
  }
  // "Set a PIN" opens the folded form it points at.
  if (t && t.getAttribute && t.getAttribute("href") === "#password-settings") {
    var d = document.getElementById("password-settings");
    if (d) d.open = true;
  }
});
// The welcome is for the first visit: a reload or a bookmark shows the plain card.
if (location.search.indexOf("welcome=") >= 0 && window.history.replaceState) {
  window.history.replaceState(null, "", location.pathname + location.hash);
}
