// Small behaviours of the portal pages (no inline scripts: the CSP allows only our own files).
(function () {
  "use strict";
  // Long work (an import, a purchase): a form marked data-busy shows its hidden
  // progress bar and disables its buttons once submitted, so it is sent once.
  // The menu button of the phone layout opens and closes the navigation.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".nav-toggle");
    if (!button) return;
    var nav = document.getElementById(button.getAttribute("aria-controls"));
    if (!nav) return;
    var open = nav.classList.toggle("open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
  // A file input hidden behind a Chinese label shows the chosen file's name beside it.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-file-name]")) return;
    var label = document.getElementById(input.getAttribute("data-file-name"));
    if (label && input.files && input.files.length) label.textContent = input.files[0].name;
  });
  // The variable picker of the template and campaign editors inserts a ${name} token at the
  // cursor of the text box (#id_text): merchants never type tokens.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-token]");
    var area = document.getElementById("id_text");
    if (!button || !area) return;
    event.preventDefault();
    var start = area.selectionStart, end = area.selectionEnd, token = button.getAttribute("data-token");
    area.value = area.value.slice(0, start) + token + area.value.slice(end);
    area.focus();
    area.selectionStart = area.selectionEnd = start + token.length;
    if (window.htmx) { htmx.trigger(area, "tpl-insert"); }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-busy]")) return;
    form.querySelectorAll("[data-busy-show]").forEach(function (el) { el.hidden = false; });
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
})();
