// Small behaviours of the portal pages (no inline scripts: the CSP allows only our own files).
(function () {
  "use strict";
  // Long work (an import, a purchase): a form marked data-busy shows its hidden
  // progress bar and disables its buttons once submitted, so it is sent once.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-busy]")) return;
    form.querySelectorAll("[data-busy-show]").forEach(function (el) { el.hidden = false; });
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
})();
