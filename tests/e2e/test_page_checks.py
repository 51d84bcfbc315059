"""The page checks themselves, on small pages set in the browser: each problem is found, and what
the portal does on purpose (a table scrolling in its box, user text, hidden helpers) is not."""

from __future__ import annotations

import pytest

from tests.e2e.page_checks import PHONE, english_words, page_problems

pytestmark = pytest.mark.e2e

CSS = """<style>
  body { margin: 0; font: 14px sans-serif; } .card { border: 1px solid #ccc; padding: 8px; width: 300px; }
  .table-wrap { overflow-x: auto; } .clip { overflow: hidden; width: 200px; }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
</style>"""

NOWRAP_CELL = '<td style="white-space: nowrap">很长的一列内容</td>'


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport=PHONE)
    yield context.new_page()
    context.close()


def problems(page, body: str, *, merchant: bool = True) -> list[str]:
    page.set_content(f"<!doctype html><html><head>{CSS}</head><body>{body}</body></html>")
    return page_problems(page, merchant=merchant)


def test_it_passes_a_clean_chinese_page(page):
    body = """<div class="card"><h1>短信账户</h1><p>余量 1,000 条 · 导出 CSV · TPL-ADLAW · 订单号 CZ2026</p>
    <div class="table-wrap"><table><tr>""" + NOWRAP_CELL * 20 + """</tr></table></div>
    <span translate="no">dora</span><input value="{{ raw }} english"><span class="visually-hidden">
    <table><tr>""" + NOWRAP_CELL * 20 + """</tr></table></span></div>"""
    assert problems(page, body) == []


def test_it_finds_a_document_that_scrolls_sideways(page):
    found = problems(page, '<div style="width: 900px">宽</div>')
    assert any("document scrolls sideways" in p for p in found), found


def test_it_finds_an_element_wider_than_its_card_or_its_clipping_box(page):
    found = problems(page, '<div class="card"><table><tr>' + NOWRAP_CELL * 8 + "</tr></table></div>")
    assert any("passes div.card" in p for p in found), found
    found = problems(page, '<div class="clip"><p style="width: 300px">被裁掉的右侧</p></div>')
    assert any("passes div.clip" in p for p in found), found


def test_it_finds_raw_template_syntax_outside_form_fields(page):
    for raw in ("{{ shop.name }}", "{% url 'x' %}", "{# note #}", "${coupon_amount}"):
        found = problems(page, f"<p>您的优惠券 {raw} 已到账</p>")
        assert any("raw template syntax" in p for p in found), (raw, found)


def test_it_finds_english_words_on_merchant_pages_only(page):
    body = "<p>支付方式：simulated</p>"
    assert any("'simulated'" in p for p in problems(page, body))
    assert problems(page, body, merchant=False) == []
    words = english_words("Page not found · JD · SMS · FREQ-SHOP-2DAY · 10ms · UTF-8")
    assert words == ["Page", "not", "found"]
