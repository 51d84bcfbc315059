"""Signatures: 测试/test are neutral, the charset is judged as typed, the brand and the neutral
names are matched through look-alikes, pinyin and separators."""

from __future__ import annotations

import pytest

from reviews.models import ConfusableKind, NeutralName
from reviews.services.confusables import confusable_add
from reviews.signature_rules import signature_findings

pytestmark = pytest.mark.django_db


def findings(text: str) -> list[tuple[str, str]]:
    return [(f.rule, text[f.start:f.end]) for f in signature_findings(text)]


@pytest.mark.parametrize(
    ("text", "typed"),
    [("测试", "测试"), ("测试店铺", "测试"), ("爱丽丝测试", "测试"), ("test", "test"), ("TEST", "TEST"),
     ("Test小店", "Test"), ("ＴＥＳＴ", "ＴＥＳＴ"), ("TestShop", "Test"), ("ceshi小店", "ceshi"),
     ("測試店", "測試")],
)
def test_it_refuses_test_signatures(text, typed):
    assert ("SIG-NEUTRAL", typed) in findings(text)


@pytest.mark.parametrize("text", ["Latest", "Contest潮牌", "测量仪器店", "Testoni", "爱丽丝服饰"])
def test_it_leaves_words_that_only_contain_the_letters_of_test(text):
    assert [rule for rule, _typed in findings(text) if rule == "SIG-NEUTRAL"] == []


@pytest.mark.parametrize(
    ("text", "typed"),
    [("爱丽丝™", "™"), ("①号店", "①"), ("爱丽丝℡", "℡"), ("小店㎏", "㎏"), ("Ⅻ小店", "Ⅻ"), ("⼀号店", "⼀"),
     ("爱丽丝ﬁ", "ﬁ")],
)
def test_the_charset_is_judged_as_typed(text, typed):
    assert ("SIG-CHARSET", typed) in findings(text)


def test_full_width_letters_and_digits_are_the_same_letters():
    assert findings("爱丽丝Ａｂ１２") == []


@pytest.mark.parametrize(
    ("text", "typed"),
    [("京東好物", "京東"), ("亰东好物", "亰东"), ("荆东优选", "荆东"), ("jingdong优选", "jingdong"),
     ("JingDong", "JingDong"), ("jing东好物", "jing东"), ("JDshop", "JD"), ("ＪＤ优选", "ＪＤ")],
)
def test_it_sees_the_brand_through_evasions(text, typed):
    assert ("SIG-PLATFORM", typed) in findings(text)


def test_the_brand_split_by_a_mark_is_the_brand_and_the_mark_a_charset_error():
    assert set(findings("J.D优选")) == {("SIG-CHARSET", "."), ("SIG-PLATFORM", "J.D")}


@pytest.mark.parametrize("text", ["京味小馆", "东方小店", "Jingle", "景东茶叶"])
def test_it_leaves_names_that_only_look_like_the_brand(text):
    assert [rule for rule, _typed in findings(text) if rule == "SIG-PLATFORM"] == []


def test_neutral_names_hold_against_look_alikes_and_pinyin():
    assert findings("驗證碼") == [("SIG-NEUTRAL", "驗證碼")]
    assert findings("yanzhengma") == [("SIG-NEUTRAL", "yanzhengma")]
    assert findings("爱丽丝验证码") == []  # exact names only match the whole signature
    NeutralName.objects.create(term="会员专享", match=NeutralName.Match.CONTAINS)
    assert findings("爱丽丝huiyuan专享") == [("SIG-NEUTRAL", "huiyuan专享")]


def test_a_new_confusable_reaches_signatures_too():
    assert findings("京冻好物") == []
    confusable_add(variant="京冻", canonical="京东", kind=ConfusableKind.HOMOPHONE)
    assert findings("京冻好物") == [("SIG-PLATFORM", "京冻")]
