"""Checks every journey runs on every page it visits, at 1440x900 and at 390x844.

``check_page(page, merchant=...)`` fails the test, naming the offending elements, when the
page shown in ``page`` (a Playwright page) has:

1. horizontal overflow of the document (the page scrolls sideways);
2. an element wider than its container: its right edge passes the nearest ancestor that
   scrolls or clips it (``overflow-x`` other than ``visible``), the portal card around it
   (``.card``), or the viewport. Content of a box that scrolls on purpose
   (``overflow-x: auto | scroll``, e.g. ``.table-wrap``) is exempt: tables may scroll inside
   their own box; that box itself must fit its container;
3. raw template syntax in the visible text: ``{#``, ``{%``, ``{{`` or ``${`` anywhere outside
   form fields (input, textarea, select);
4. on merchant pages, English words in the visible text outside ``ENGLISH_ALLOWLIST``.

For check 4 a "word" is a run of two or more Latin letters standing alone. Exempt are:
tokens with a digit in them (order numbers, ``UTF-8``, ``10ms``), rule ids
(``RULE_ID``: ``TPL-ADLAW``, ``FREQ-SHOP-2DAY``, ``OPTED-OUT``), the allowlist below, form
fields, and text the user typed or owns, which a page marks with the standard HTML
attribute ``translate="no"`` (user names, shop names, customers' names, message bodies):
``<span class="who-name" translate="no">{{ user.get_username }}</span>``.

Use it through the journey: ``journey.check_both(page, "name")`` checks the current page at
both sizes and saves ``NN-name-1440.png`` and ``NN-name-390.png`` (``tests/e2e/conftest.py``);
``journey.visit_both(page, url, "name")`` opens ``url`` first. Reviewers' (admin) pages pass
``merchant=False`` (English operator text is allowed there). The journey fails at the first
page with a problem; ``E2E_CHECKS=report`` lets it go on and lists every page's problems
at its end (``journey.assert_console_clean()``), to survey a journey while fixing it.

Layout rules the portal offers so pages pass (static/portal/portal.css): wrap a table that
may be wide in ``<div class="table-wrap">`` (it scrolls inside that box; on a phone every
``.content table`` scrolls by itself anyway); give long unbroken text ``overflow-wrap:
anywhere``; mark user-typed text ``translate="no"``.
"""

from __future__ import annotations

import re

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = ((DESKTOP, "1440"), (PHONE, "390"))

# Rule ids stay as small tags next to the Chinese text (DOMAIN.md): TPL-ADLAW, OPTED-OUT.
RULE_ID = re.compile(r"^[A-Z]+(-[A-Z0-9]+)+$")
# Domain names (the allowed landing domains: jd.com, shop.example.cn) are addresses, not words.
DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$")
# Words a Chinese merchant page may show in Latin letters: brand and product names,
# file formats, the opt-out reply words, units. Compared case-insensitively.
ENGLISH_ALLOWLIST = frozenset(
    word.lower()
    for word in (
        # brands and products
        "JD", "Kannel", "Excel", "WPS", "QQ", "Chrome", "iPhone", "Android", "Alibaba", "Klaviyo",
        # formats and technical acronyms a merchant meets in Chinese consoles
        "SMS", "CSV", "UTF", "GBK", "URL", "ID", "VIP", "API", "PDF", "PNG", "HTTP", "HTTPS",
        "Webhook", "JSON",
        # opt-out reply words (拒收请回复R; 回复 T、TD 退订)
        "TD",
        # units
        "ms", "KB", "MB", "GB",
    )
)
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/+-]*")
LETTERS = re.compile(r"[A-Za-z]{2,}")
RAW_SYNTAX = ("{#", "{%", "{{", "${")
MAX_REPORTED = 12

# The visible text of the page, as (text, where) pairs: text nodes that are rendered,
# outside form fields, scripts and styles; "owned" says whether a translate="no"
# ancestor marks it as the user's own text.
_TEXT_JS = """() => {
  const skip = 'input, textarea, select, option, script, style, noscript, template';
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue;
    if (!text || !text.trim()) continue;
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    if (el.checkVisibility && !el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const where = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.classList.length ? '.' + [...el.classList].join('.') : '');
    out.push({text: text, where: where, owned: !!el.closest('[translate=no]')});
  }
  return out;
}"""

# Elements that stick out of their container (see the module docstring, check 2).
_OVERFLOW_JS = """(limit) => {
  const doc = document.documentElement;
  const viewport = window.innerWidth;
  const styles = new Map();
  const style = (el) => {
    let s = styles.get(el);
    if (!s) { s = getComputedStyle(el); styles.set(el, s); }
    return s;
  };
  const describe = (el) => {
    if (!el || el === doc) return 'the viewport';
    let d = el.tagName.toLowerCase();
    if (el.id) d += '#' + el.id;
    if (el.classList.length) d += '.' + [...el.classList].slice(0, 3).join('.');
    const text = (el.innerText || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return text ? d + ' "' + text + '"' : d;
  };
  // The box an element must stay inside: nearest ancestor that clips or scrolls sideways,
  // or a portal card; null means the viewport.
  const containerOf = (el) => {
    for (let a = el.parentElement; a && a !== document.body && a !== doc; a = a.parentElement) {
      const o = style(a).overflowX;
      if (o !== 'visible') return {el: a, scrolls: o === 'auto' || o === 'scroll'};
      if (a.classList.contains('card')) return {el: a, scrolls: false};
    }
    return null;
  };
  const problems = [];
  for (const el of document.body.querySelectorAll('*')) {
    const s = style(el);
    if (s.display === 'none' || s.display === 'contents' || s.visibility === 'hidden') continue;
    if (s.position === 'fixed') continue;  // checked against the viewport by the document check
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (el.checkVisibility && !el.checkVisibility({checkOpacity: false, checkVisibilityCSS: true})) continue;
    const container = containerOf(el);
    if (container && container.scrolls) continue;  // reachable by scrolling that box
    if (container) {
      // A "visually hidden" box (screen readers only: 1x1 px, clipped) hides on purpose.
      const c = container.el.getBoundingClientRect();
      if (c.width <= 2 || c.height <= 2) continue;
    }
    let right, name;
    if (container) {
      const c = container.el.getBoundingClientRect();
      const cs = style(container.el);
      // The padding box: a clipping box cuts at its padding edge, a card's content may
      // use its padding but not pass its border.
      right = c.right - parseFloat(cs.borderRightWidth || '0');
      name = describe(container.el);
    } else {
      right = viewport;
      name = 'the viewport';
    }
    const over = box.right - right;
    if (over > 1) {
      problems.push({element: describe(el), container: name, over: Math.round(over)});
      if (problems.length >= limit) break;
    }
  }
  return {document: doc.scrollWidth - doc.clientWidth, problems: problems};
}"""


def english_words(text: str) -> list[str]:
    """The words of ``text`` that check 4 refuses (see the module docstring)."""
    found = []
    for token in WORD.findall(text):
        token = token.strip("._:/+-")
        if not token or any(ch.isdigit() for ch in token):
            continue
        if RULE_ID.match(token) or DOMAIN.match(token):
            continue
        for word in LETTERS.findall(token):
            if word.lower() not in ENGLISH_ALLOWLIST:
                found.append(word)
    return found


def page_problems(page, *, merchant: bool) -> list[str]:
    """Everything ``check_page`` would refuse on the current page, as readable lines."""
    problems: list[str] = []
    layout = page.evaluate(_OVERFLOW_JS, MAX_REPORTED)
    if layout["document"] > 0:
        problems.append(f"the document scrolls sideways by {layout['document']}px")
    for p in layout["problems"]:
        problems.append(f"{p['element']} passes {p['container']} by {p['over']}px")
    english: dict[str, str] = {}
    for node in page.evaluate(_TEXT_JS):
        text = node["text"]
        for mark in RAW_SYNTAX:
            if mark in text:
                problems.append(f"raw template syntax {mark!r} in {node['where']}: {text.strip()[:80]!r}")
        if merchant and not node["owned"]:
            for word in english_words(text):
                english.setdefault(word, node["where"])
    for word, where in list(english.items())[:MAX_REPORTED]:
        problems.append(f"English word {word!r} in {where} (allowlist: tests/e2e/page_checks.py)")
    return problems


def check_page(page, *, merchant: bool) -> None:
    """Fail with the list of problems of the page shown (see the module docstring)."""
    problems = page_problems(page, merchant=merchant)
    size = page.viewport_size or {}
    assert not problems, (
        f"{page.url} at {size.get('width')}x{size.get('height')}:\n  " + "\n  ".join(problems)
    )


def settle(page) -> None:
    """Let the page lay itself out after a resize (media queries, charts' resize observers)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(150)  # Chart.js redraws on its ResizeObserver after the frame
