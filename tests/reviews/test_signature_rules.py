"""SIG-* rules with their boundary cases, on NFKC-normalised, case-folded text."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviews.models import NeutralName, PlatformBrandTerm, Signature
from reviews.services.signatures import SignatureRefused, signature_approve, signature_submit
from reviews.signature_rules import signature_findings

pytestmark = pytest.mark.django_db


def rules(text: str, **kwargs) -> list[str]:
    return [f.rule for f in signature_findings(text, **kwargs)]


def only(text: str, rule: str, **kwargs):
    findings = [f for f in signature_findings(text, **kwargs) if f.rule == rule]
    assert len(findings) == 1, findings
    return findings[0]


# SIG-LENGTH -------------------------------------------------------------------

def test_it_accepts_nine_chinese_characters():
    assert rules("爱丽丝服饰旗舰店铺") == []


def test_it_refuses_ten_chinese_characters_and_marks_the_tenth():
    finding = only("爱丽丝服饰旗舰店铺子", "SIG-LENGTH")
    assert (finding.start, finding.end) == (9, 10)
    assert finding.severity == "block"
    assert "20" in finding.message and "18" in finding.message
    assert finding.hint


def test_it_accepts_eighteen_letters_and_refuses_nineteen():
    assert rules("a" * 18) == []
    finding = only("a" * 19, "SIG-LENGTH")
    assert (finding.start, finding.end) == (18, 19)


def test_it_weighs_mixed_chinese_and_letters():
    assert rules("爱丽丝服饰旗舰店ab") == []  # 8×2 + 2 = 18
    finding = only("爱丽丝服饰旗舰店abc", "SIG-LENGTH")  # 19
    assert (finding.start, finding.end) == (10, 11)
    assert rules("Alice爱丽丝99") == []  # 5 + 6 + 2 = 13


def test_it_counts_full_width_letters_as_letters():
    assert rules("Ａ" * 18) == []
    finding = only("Ａ" * 19, "SIG-LENGTH")
    assert (finding.start, finding.end) == (18, 19)


def test_it_needs_at_least_two_characters():
    assert "SIG-LENGTH" in rules("爱")
    assert "SIG-LENGTH" in rules("a")
    assert "SIG-LENGTH" in rules("")
    assert rules("ab") == []
    assert rules("爱丽") == []


# SIG-CHARSET ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "span"),
    [("花99%", (3, 4)), ("花+", (1, 2)), ("爱 丽丝", (1, 2)), ("爱丽丝！", (3, 4)), ("爱丽丝.", (3, 4)),
     ("爱丽·丝", (2, 3)), ("アリス", (0, 3))],
)
def test_it_refuses_symbols_spaces_and_punctuation(text, span):
    finding = only(text, "SIG-CHARSET")
    assert (finding.start, finding.end) == span


def test_it_refuses_brackets_with_one_finding_per_run():
    findings = [f for f in signature_findings("【爱丽丝】") if f.rule == "SIG-CHARSET"]
    assert [(f.start, f.end) for f in findings] == [(0, 1), (4, 5)]


def test_it_accepts_chinese_letters_digits_including_full_width():
    assert rules("爱丽丝Ａｂ１２") == []
    assert rules("Shop2025") == []


# SIG-NEUTRAL ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["政务短信", "政务通知", "验证码", "客服通知", "系统通知", "温馨提示"])
def test_it_refuses_the_seeded_neutral_names(text):
    finding = only(text, "SIG-NEUTRAL")
    assert (finding.start, finding.end) == (0, len(text))


def test_a_name_that_only_contains_a_neutral_word_passes_by_default():
    assert rules("爱丽丝温馨提示") == []


def test_the_neutral_list_is_data_an_operator_edits():
    assert rules("会员专享") == []
    NeutralName.objects.create(term="会员专享")
    assert rules("会员专享") == ["SIG-NEUTRAL"]
    NeutralName.objects.create(term="VIP", match=NeutralName.Match.CONTAINS)
    finding = only("爱丽丝ｖｉｐ", "SIG-NEUTRAL")
    assert (finding.start, finding.end) == (3, 6)
    NeutralName.objects.filter(term="验证码").update(active=False)
    assert rules("验证码") == []


def test_neutral_names_compare_case_and_width_insensitively():
    NeutralName.objects.create(term="Notice")
    assert rules("ＮＯＴＩＣＥ") == ["SIG-NEUTRAL"]


# SIG-PLATFORM -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "span"),
    [("京东好物", (0, 2)), ("京東好物", (0, 2)), ("JD优选", (0, 2)), ("jd优选", (0, 2)), ("Jd优选", (0, 2)),
     ("ｊＤ优选", (0, 2)), ("ＪＤ优选", (0, 2)), ("小店JD", (2, 4)), ("爱丽丝jingdong", (3, 11))],
)
def test_it_refuses_the_platform_brand_in_any_case_or_width(text, span):
    finding = only(text, "SIG-PLATFORM")
    assert (finding.start, finding.end) == span
    assert finding.severity == "block"


def test_it_marks_every_occurrence_of_the_brand():
    findings = [f for f in signature_findings("京东jd") if f.rule == "SIG-PLATFORM"]
    assert [(f.start, f.end) for f in findings] == [(0, 2), (2, 4)]


def test_the_brand_terms_are_data_an_operator_edits():
    PlatformBrandTerm.objects.create(term="京喜")
    assert rules("京喜好物") == ["SIG-PLATFORM"]
    PlatformBrandTerm.objects.filter(term="jd").update(active=False)
    assert rules("JDshop") == []  # jd only inside a Latin word was the brand term itself
    assert rules("JD优选") == ["SIG-PLATFORM"]  # the confusables table still reads JD as 京东
    PlatformBrandTerm.objects.filter(term__in=["京东", "京東"]).update(active=False)
    assert rules("JD优选") == []


# SIG-DUPLICATE ----------------------------------------------------------------

def test_it_refuses_a_signature_another_shop_uses_or_has_pending(alice, bob, alice_shop, bob_shop, reviewer):
    signature_submit(shop=alice_shop, text="Alice", by=alice)
    assert rules("Alice", shop_id=bob_shop.pk) == ["SIG-DUPLICATE"]
    assert rules("ＡＬＩＣＥ", shop_id=bob_shop.pk) == ["SIG-DUPLICATE"]  # after normalisation
    assert rules("Alice", shop_id=alice_shop.pk) == []  # its own is no duplicate
    signature_approve(signature=Signature.objects.get(shop=alice_shop), reviewer=reviewer)
    assert rules("alice", shop_id=bob_shop.pk) == ["SIG-DUPLICATE"]
    with pytest.raises(SignatureRefused) as excinfo:
        signature_submit(shop=bob_shop, text="aLiCe", by=bob)
    assert excinfo.value.rule == "SIG-DUPLICATE"
    assert not Signature.objects.filter(shop=bob_shop).exists()


def test_a_rejected_or_withdrawn_signature_does_not_block_others(alice, bob, alice_shop, bob_shop, reviewer):
    from reviews.services.signatures import signature_reject

    pending = signature_submit(shop=alice_shop, text="好物", by=alice)
    signature_reject(signature=pending, reviewer=reviewer, reason_code="generic")
    assert rules("好物", shop_id=bob_shop.pk) == []
    signature_submit(shop=bob_shop, text="好物", by=bob)


def test_the_database_refuses_two_shops_with_the_same_normalised_signature(alice_shop, bob_shop):
    Signature.objects.create(shop=alice_shop, text="Alice", normalized="alice", due_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.create(shop=bob_shop, text="ALICE", normalized="alice", due_at=timezone.now())


# Submission -------------------------------------------------------------------

def test_a_signature_that_breaks_a_rule_cannot_be_submitted_and_every_finding_is_told(alice, alice_shop):
    with pytest.raises(SignatureRefused) as excinfo:
        signature_submit(shop=alice_shop, text="京东·官方旗舰店铺子呀", by=alice)
    found = {f.rule for f in excinfo.value.findings}
    assert found == {"SIG-LENGTH", "SIG-CHARSET", "SIG-PLATFORM"}
    assert not Signature.objects.exists()


def test_the_findings_point_at_the_typed_text_even_when_normalisation_expands_it():
    # "ﬀ" (one char) normalises to "ff" (two): the brand after it still maps back correctly.
    finding = only("ﬀ京东", "SIG-PLATFORM")
    assert (finding.start, finding.end) == (1, 3)


# Properties -------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reviews.models import NeutralName as _NeutralName  # noqa: E402
from reviews.models import PlatformBrandTerm as _Brand  # noqa: E402

NEUTRAL = [_NeutralName(term="验证码")]
BRANDS = [_Brand(term="京东"), _Brand(term="jd")]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_every_finding_span_lies_within_the_typed_text(text):
    findings = signature_findings(text, neutral_names=NEUTRAL, brand_terms=BRANDS)
    for finding in findings:
        assert 0 <= finding.start <= finding.end <= len(text)
        assert finding.severity == "block" and finding.message and finding.hint


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("爱丽丝服饰abcXYZ019ＡＢ１"), min_size=2, max_size=30))
def test_clean_text_is_refused_only_for_its_length(text):
    findings = signature_findings(text, neutral_names=[], brand_terms=[])
    weight = sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in text)
    assert [f.rule for f in findings] == ([] if weight <= 18 else ["SIG-LENGTH"])
