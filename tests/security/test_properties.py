"""Property-based tests (hypothesis) of the content checker, phone normalisation and the
length/parts counter, beyond the ones beside each module (tests/campaigns/test_phones.py,
tests/reviews/test_signature_rules.py, tests/reviews/test_content_variables.py): any text
never crashes them, their invariants hold, and invisible characters or look-alike
widths never hide a banned word or the platform's brand."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from campaigns.phones import normalize_phone
from reviews.models import PlatformBrandTerm
from reviews.policy.checker import check_content
from reviews.policy.length import (
    MULTI_PART_SIZE,
    SINGLE_PART_MAX,
    chars_left_in_part,
    count_parts,
    full_message,
)
from reviews.signature_rules import signature_findings

pytestmark = pytest.mark.django_db
DB_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Characters a spammer slips into a word: zero-width, direction marks, soft hyphen, BOM.
INVISIBLE = st.sampled_from(
    ["\u200b", "\u200c", "\u200d", "\u2060", "\u202e", "\u202c", "\u200e", "\u00ad", "\ufeff"]
)
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=120)


# --- length and parts --------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=100_000))
def test_parts_are_the_smallest_count_that_holds_the_text(length):
    parts = count_parts(length)
    assert parts >= 1
    if length <= SINGLE_PART_MAX:
        assert parts == 1
    else:
        assert (parts - 1) * MULTI_PART_SIZE < length <= parts * MULTI_PART_SIZE
    assert count_parts(length + 1) >= parts  # never fewer parts for a longer text
    left = chars_left_in_part(length)
    assert left >= 0
    assert count_parts(length + left) == parts and count_parts(length + left + 1) == parts + 1


@given(st.integers(max_value=-1))
def test_a_negative_length_is_refused_not_miscounted(length):
    with pytest.raises(ValueError):
        count_parts(length)


@given(
    signature=st.text(min_size=2, max_size=9),
    body=ANY_TEXT,
    message_class=st.sampled_from(["marketing", "notify_unsub", "notify"]),
)
def test_the_message_as_received_is_signature_body_and_suffix(signature, body, message_class):
    message = full_message(signature=signature, body=body, message_class=message_class)
    assert message.startswith(f"【{signature}】") and body in message
    assert len(message) >= len(signature) + 2 + len(body)


# --- the content checker ------------------------------------------------------------------


@DB_SETTINGS
@given(
    text=ANY_TEXT,
    kind=st.sampled_from(["template", "text"]),
    message_class=st.sampled_from(["marketing", "notify_unsub", "notify"]),
    signature=st.one_of(st.none(), st.text(min_size=2, max_size=9)),
)
@example(text="\x00" * 10, kind="text", message_class="marketing", signature=None)
@example(text="${" * 50, kind="template", message_class="marketing", signature="爱丽丝")
@example(text="【】" * 300, kind="text", message_class="notify", signature=None)
def test_the_checker_never_fails_on_any_text(text, kind, message_class, signature):
    result = check_content(kind=kind, text=text, signature=signature, message_class=message_class)
    assert result.ok == (not any(f.severity == "block" for f in result.findings))
    assert result.parts == count_parts(result.length)
    for finding in result.findings:
        assert 0 <= finding.start <= finding.end <= len(text)
        assert finding.rule.startswith("TPL-") and finding.message and finding.hint


BANNED = [
    ("加微信", "TPL-OFFSITE"),
    ("全网最低价", "TPL-ADLAW"),
    ("好评返现", "TPL-REVIEW-BAIT"),
    ("京东客服", "TPL-IMPERSONATE"),
]


def interleave(word: str, fillers: list[str]) -> str:
    return "".join(char + (fillers[i % len(fillers)] if fillers else "") for i, char in enumerate(word))


@DB_SETTINGS
@given(
    banned=st.sampled_from(BANNED),
    fillers=st.lists(st.one_of(INVISIBLE, st.just(""), st.just(" ")), max_size=4),
    wide=st.booleans(),
    before=st.sampled_from(["", "亲爱的顾客，", "夏季新品上架，"]),
)
def test_invisible_characters_never_hide_a_banned_word(banned, fillers, wide, before):
    word, rule = banned
    if wide:
        word = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word)
    text = before + interleave(word, fillers) + "，欢迎进店选购。"
    result = check_content(kind="text", text=text, message_class="marketing")
    assert rule in {f.rule for f in result.findings if f.severity == "block"}, text
    assert not result.ok


BRAND_FORMS = st.sampled_from(["京东", "京東", "JD", "jd", "Jd", "ＪＤ", "ｊｄ", "Jｄ"])


@DB_SETTINGS
@given(
    brand=BRAND_FORMS,
    before=st.text(alphabet="爱丽丝服饰", max_size=4),
    after=st.text(alphabet="旗舰店优选", max_size=3),
    filler=st.one_of(st.just(""), INVISIBLE),
)
def test_no_form_of_the_platform_brand_passes_as_a_signature(brand, before, after, filler):
    text = before + brand[0] + filler + brand[1:] + after
    # The platform's brand terms as operators keep them (data: 京东, JD, 京東 ...).
    findings = signature_findings(text, neutral_names=[], brand_terms=list(PlatformBrandTerm.objects.all()))
    rules = {f.rule for f in findings}
    assert rules & {"SIG-PLATFORM", "SIG-CHARSET"}, text


# --- phone normalisation ----------------------------------------------------------------


def digits_of(raw: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", raw))


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
@example("１３８００１３８０００")
@example("+86\u00a0138 0013 8000")
@example("138\u200b0013\u200b8000")
def test_a_normalised_phone_uses_only_the_digits_typed_in_their_order(raw):
    result = normalize_phone(raw)
    if result is not None:
        assert digits_of(raw).endswith(result)
        assert normalize_phone(result) == result


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), INVISIBLE)
def test_an_invisible_character_inside_a_number_makes_it_invalid_not_another_number(rest, invisible):
    number = "138" + rest
    assert normalize_phone(number[:5] + invisible + number[5:]) is None
