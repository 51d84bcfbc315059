// 转换为中文标点 (templates/reviews/punctuation_button.html): posts the text box's text to the
// server's conversion (reviews:punctuation), puts the result back and asks the editor to check
// it again (the htmx event "tpl-insert" and an "input" event). Delegated, so buttons swapped in
// by htmx work; loaded once per page.
(function () {
  if (window.smsPunctuation) return;
  window.smsPunctuation = true;
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-punct-url]");
    if (!button) return;
    event.preventDefault();
    var area = document.querySelector(button.getAttribute("data-punct-target"));
    if (!area) return;
    var body = new URLSearchParams();
    body.append("text", area.value);
    button.disabled = true;
    fetch(button.getAttribute("data-punct-url"), {
      method: "POST",
      headers: {"X-CSRFToken": button.getAttribute("data-csrf"), "Content-Type": "application/x-www-form-urlencoded"},
      body: body.toString(),
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    }).then(function (data) {
      area.value = data.text;
      var result = document.getElementById("punct-result");
      if (result) result.textContent = data.message;
      area.dispatchEvent(new Event("input", {bubbles: true}));
      if (window.htmx) window.htmx.trigger(area, "tpl-insert");
    }).catch(function () {
      button.disabled = false;
      var result = document.getElementById("punct-result");
      if (result) result.textContent = "转换失败，请稍后重试。";
    });
  });
})();
