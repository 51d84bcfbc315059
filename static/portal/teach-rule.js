/* Teach a rule on the reviewer's decision page (templates/admin/reviews/_teach_rule.html).
   The reviewer selects the offending span in #teach-text; this fills the hidden teach-start /
   teach-end inputs with its position in the text as stored (Python string indexes, i.e. code
   points), a variable chip counting as its whole ${token}. No inline script (CSP). */
(function () {
  "use strict";
  var box = document.getElementById("teach-text");
  if (!box) { return; }
  var start = document.getElementById("id_teach-start");
  var end = document.getElementById("id_teach-end");
  var shown = document.getElementById("teach-selected");
  var clear = document.getElementById("teach-clear");

  function codePoints(text) { return Array.from(text).length; }

  // The position in the stored text of a selection boundary (node, offset); atEnd picks a chip's end.
  function position(node, offset, atEnd) {
    var element = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    if (element === box) {
      var children = box.children;
      if (offset >= children.length) { return Number(children[children.length - 1].dataset.end); }
      return Number(children[offset].dataset.start);
    }
    var seg = element.closest("[data-start]");
    if (!seg || !box.contains(seg)) { return null; }
    if (seg.classList.contains("teach-var")) { return Number(atEnd ? seg.dataset.end : seg.dataset.start); }
    if (node.nodeType !== Node.TEXT_NODE) { return Number(offset ? seg.dataset.end : seg.dataset.start); }
    return Number(seg.dataset.start) + codePoints(node.data.slice(0, offset));
  }

  function show(text) {
    shown.textContent = text || shown.dataset.empty;
  }

  function read() {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) { return; }
    var range = selection.getRangeAt(0);
    if (!box.contains(range.startContainer) || !box.contains(range.endContainer)) { return; }
    var a = position(range.startContainer, range.startOffset, false);
    var b = position(range.endContainer, range.endOffset, true);
    if (a === null || b === null || b <= a) { return; }
    start.value = a;
    end.value = b;
    show(selection.toString());
    var reject = document.querySelector("#review-decide-form input[name=decision][value=reject]");
    if (reject) { reject.checked = true; }
  }

  box.addEventListener("mouseup", read);
  box.addEventListener("keyup", read);
  document.addEventListener("selectionchange", function () {
    var selection = window.getSelection();
    if (selection && selection.rangeCount && box.contains(selection.getRangeAt(0).commonAncestorContainer)) { read(); }
  });
  clear.addEventListener("click", function () {
    start.value = "";
    end.value = "";
    show("");
  });
  if (start.value !== "" && end.value !== "") {
    // Re-rendered after an error: show the kept selection.
    var parts = [];
    box.querySelectorAll("[data-start]").forEach(function (seg) {
      var s = Number(seg.dataset.start), e = Number(seg.dataset.end);
      if (e <= Number(start.value) || s >= Number(end.value)) { return; }
      if (seg.classList.contains("teach-var")) { parts.push(seg.textContent); return; }
      var chars = Array.from(seg.textContent);
      parts.push(chars.slice(Math.max(0, start.value - s), Math.min(chars.length, end.value - s)).join(""));
    });
    show(parts.join(""));
  } else {
    show("");
  }
}());
