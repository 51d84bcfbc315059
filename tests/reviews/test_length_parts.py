"""Length and parts of the message as received, at the 70/71 and 134/135 boundaries."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from reviews.policy.checker import check_content
from reviews.policy.length import chars_left_in_part, count_parts, full_message

pytestmark = pytest.mark.django_db

NO_SIGNATURE_PREFIX = 11  # 【 + the maximum signature of 9 characters + 】
SUFFIX = len("拒收请回复R")  # 6


def body(n: int) -> str:
    """A harmless body of exactly n characters."""
    return ("夏季新品上市欢迎选购" * 60)[:n]


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4), (500, 8)],
)
def test_it_counts_parts(length, parts):
    assert count_parts(length) == parts


def test_it_tells_characters_left_in_the_current_part():
    assert chars_left_in_part(60) == 10
    assert chars_left_in_part(70) == 0
    assert chars_left_in_part(71) == 63  # 2 parts hold 134
    assert chars_left_in_part(134) == 0
    assert chars_left_in_part(135) == 66


def test_it_builds_the_message_as_received():
    assert (
        full_message(signature="爱丽丝", body="新品上市。", message_class="marketing")
        == "【爱丽丝】新品上市。拒收请回复R"
    )
    assert full_message(
        signature="爱丽丝", body="您的订单已发货。", message_class="notify_unsub"
    ).endswith("拒收请回复R")
    assert (
        full_message(signature="爱丽丝", body="您的订单已发货。", message_class="notify")
        == "【爱丽丝】您的订单已发货。"
    )
    assert full_message(
        signature="爱丽丝", body="新品。", message_class="marketing", suffix="回T退订"
    ) == ("【爱丽丝】新品。回T退订")


@override_settings(SMS_UNSUBSCRIBE_SUFFIX="退订回T")
def test_it_uses_the_configured_suffix():
    assert (
        full_message(signature="爱丽丝", body="新品。", message_class="marketing")
        == "【爱丽丝】新品。退订回T"
    )
    result = check_content(kind="template", text=body(20), signature="爱丽丝")
    assert result.length == 5 + 20 + 4


# (signature, message class, fixed characters around the body)
CASES = [
    (None, "marketing", NO_SIGNATURE_PREFIX + SUFFIX),  # no signature, with suffix: 17
    (None, "notify", NO_SIGNATURE_PREFIX),  # no signature, no suffix: 11
    ("爱丽丝", "marketing", 5 + SUFFIX),  # signature of 3, with suffix: 11
    ("爱丽丝服饰旗舰店", "notify", 10),  # signature of 8, no suffix: 10
    ("ALICE", "notify_unsub", 7 + SUFFIX),  # Latin signature, unsubscribable notification: 13
]


@pytest.mark.parametrize(("signature", "message_class", "fixed"), CASES)
@pytest.mark.parametrize(("total", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_it_counts_the_full_message_at_the_boundaries(
    signature, message_class, fixed, total, parts
):
    result = check_content(
        kind="template", text=body(total - fixed), signature=signature, message_class=message_class
    )
    assert result.length == total
    assert result.parts == parts
    assert result.ok


def test_it_counts_variables_at_their_maximum_length():
    # shop_name renders at most 20 characters: 11 + 20 + 39 + 6 = 76 → 2 parts, though the text is short.
    result = check_content(kind="template", text="${shop_name}" + body(39))
    assert result.length == NO_SIGNATURE_PREFIX + 20 + 39 + SUFFIX
    assert result.parts == 2


def test_it_blocks_more_than_500_characters_and_allows_500():
    fixed = NO_SIGNATURE_PREFIX + SUFFIX
    at_limit = check_content(kind="template", text=body(500 - fixed))
    assert at_limit.length == 500 and at_limit.ok
    over = check_content(kind="template", text=body(501 - fixed))
    assert over.length == 501
    assert [f.rule for f in over.findings] == ["TPL-LENGTH"]
    finding = over.findings[0]
    # The span marks the characters beyond the limit.
    assert (finding.start, finding.end) == (500 - fixed, 501 - fixed)
    assert "501" in finding.message


def run_command(*args: str) -> dict:
    out = io.StringIO()
    call_command("check_content", "--kind", "template", "--json", *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_the_command_uses_the_maximum_signature_without_signature():
    data = run_command(body(53))
    assert (data["length"], data["parts"]) == (70, 1)
    data = run_command(body(54))
    assert (data["length"], data["parts"]) == (71, 2)


def test_the_command_uses_the_given_signature():
    data = run_command("--signature", "爱丽丝", body(59))
    assert (data["length"], data["parts"]) == (70, 1)
    data = run_command("--signature", "爱丽丝", body(60))
    assert (data["length"], data["parts"]) == (71, 2)
    data = run_command("--signature", "爱丽丝", body(123))
    assert (data["length"], data["parts"]) == (134, 2)
    data = run_command("--signature", "爱丽丝", body(124))
    assert (data["length"], data["parts"]) == (135, 3)
