"""Pattern rules: two groups of terms within a short distance, as versioned data."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from reviews.errors import ReviewPermissionDenied
from reviews.models import ContentPattern, PatternRevision
from reviews.policy.checker import check_content
from reviews.policy.patterns import CompiledPattern, parse_terms, pattern_findings
from reviews.services.findings import review_findings_refresh
from reviews.services.patterns import PatternTestFailed, pattern_examples, pattern_publish
from reviews.services.templates import template_findings_key, template_submit
from tests.factories import make_user

pytestmark = pytest.mark.django_db

TAIL = "，领券：${coupon_link}"


def findings(text: str) -> list[tuple[str, str]]:
    """(rule, typed span) of every finding of ``text`` as a template."""
    result = check_content(kind="template", text=text)
    return [(f.rule, text[f.start : f.end]) for f in result.findings]


def bait() -> ContentPattern:
    return ContentPattern.objects.get(name="评价换返利")


def definition(**overrides) -> dict:
    data = {
        "rule": "TPL-REVIEW-BAIT",
        "name": "t",
        "first_terms": ["晒图"],
        "second_terms": ["红包"],
        "max_gap": 4,
        "ordered": False,
        "exceptions": [],
        "severity": "block",
        "message": "诱导“{term}”",
        "hint": "删掉",
    }
    return {**data, **overrides}


def spans(text: str, **overrides) -> list[str]:
    pattern = CompiledPattern.build(definition=definition(**overrides), version=1)
    return [text[f.start : f.end] for f in pattern_findings(text=text, patterns=[pattern])]


def test_it_seeds_the_review_bribe_and_offsite_patterns_published():
    for pattern in ContentPattern.objects.all():
        assert pattern.version >= 1
        assert PatternRevision.objects.filter(pattern=pattern, version=pattern.version).exists()
    assert {p.rule for p in ContentPattern.objects.all()} == {"TPL-REVIEW-BAIT", "TPL-OFFSITE"}
    # Every seeded pattern's own examples hold.
    for pattern in ContentPattern.objects.all():
        assert all(result.ok for result in pattern_examples(pattern)), pattern.name


def test_it_flags_a_review_bribe_written_without_a_listed_word():
    text = "亲，收货后给个五星，找客服领红包" + TAIL
    assert findings(text) == [("TPL-REVIEW-BAIT", "五星，找客服领红包")]
    result = check_content(kind="template", text=text)
    assert not result.ok
    (finding,) = result.findings
    assert finding.list_version == bait().version and "五星，找客服领红包" in finding.message


def test_it_leaves_social_proof_and_delivery_words_alone():
    for text in (
        "好评如潮的爆款，下单送运费险",
        "五星级酒店同款床品，买二送一",
        "已发货，预计明天送达，期待您的评价",
        "累计好评10万，满199减30",
        "关注店铺领取20元优惠券",
        "邀请好友下单各得5元",
    ):
        assert findings(text + TAIL) == [], text


def test_it_flags_an_invitation_to_an_offsite_account_only_in_the_given_order():
    assert findings("关注我们的同名号领福利" + TAIL) == [("TPL-OFFSITE", "关注我们的同名号")]
    assert findings("同名号欢迎关注" + TAIL) == []
    # 围脖 is slang for 微博 only after 关注 (a scarf otherwise).
    assert findings("关注我们的围脖每周抽奖" + TAIL) == [("TPL-OFFSITE", "关注我们的围脖")]
    assert findings("纯羊绒围脖，关注店铺享九折" + TAIL) == []
    assert findings("把商品添加到购物车，和好友一起拼单更优惠" + TAIL) == []


def test_it_sees_through_separators_and_full_width_forms_with_the_span_on_the_typed_text():
    text = "晒 图 就 送 小 礼 品"
    assert spans(text, second_terms=["送"]) == ["晒 图 就 送"]
    assert spans("ＱＱ上晒图找我拿红包", first_terms=["qq"], second_terms=["红包"], max_gap=6) == [
        "ＱＱ上晒图找我拿红包"
    ]


def test_it_measures_the_gap_and_never_joins_two_sentences():
    assert spans("晒图之后找客服领红包") == []  # 6 characters apart, the limit is 4
    assert spans("晒图后领红包") == ["晒图后领红包"]
    assert spans("欢迎晒图。红包雨今晚开始") == []
    assert spans("欢迎晒图\n红包雨今晚开始") == []
    assert spans("欢迎晒图，红包雨今晚开始") == ["晒图，红包"]


def test_it_masks_a_term_inside_an_exception_and_a_match_across_a_variable():
    assert spans("好评如潮，送红包", first_terms=["好评"], second_terms=["送"], exceptions=["好评如潮"]) == []
    assert spans("好评截图，送红包", first_terms=["好评"], second_terms=["送"], exceptions=["好评如潮"]) == [
        "好评截图，送"
    ]
    text = "晒图${coupon_amount}红包"
    pattern = CompiledPattern.build(definition=definition(max_gap=20), version=1)
    assert pattern_findings(text=text, patterns=[pattern], masked=[(2, 18)]) == []


def test_it_keeps_one_finding_where_a_listed_term_already_covers_the_pattern():
    # 好评返现 is a word-list term and a pattern match: reported once.
    assert findings("五星好评返现5元" + TAIL) == [("TPL-REVIEW-BAIT", "五星好评返现")]


def test_parse_terms_accepts_lines_and_chinese_separators():
    assert parse_terms("好评\n五星、晒图，追评, 好评\n\n") == ["好评", "五星", "晒图", "追评"]


def test_it_publishes_a_new_pattern_and_the_checker_uses_it_at_once(reviewer):
    text = "下单后截图私戳客服领取惊喜" + TAIL
    assert findings(text) == []
    pattern = ContentPattern.objects.create(
        rule="TPL-REVIEW-BAIT",
        name="截图领惊喜",
        first_terms="截图",
        second_terms="惊喜",
        max_gap=8,
        message="“{term}”诱导评价。",
        hint="请删除。",
        examples="截图找客服领惊喜",
        counter_examples="惊喜不断",
    )
    assert findings(text) == []  # a draft is not in force
    revision = pattern_publish(pattern=pattern, by=reviewer)
    assert (revision.version, pattern.version, revision.published_by) == (1, 1, reviewer)
    assert findings(text) == [("TPL-REVIEW-BAIT", "截图私戳客服领取惊喜")]
    assert pattern_publish(pattern=pattern, by=reviewer) is None  # nothing changed
    pattern.active = False
    pattern.save()
    assert pattern_publish(pattern=pattern, by=reviewer).version == 2
    assert findings(text) == []
    assert PatternRevision.objects.get(pattern=pattern, version=1).definition["active"] is True


def test_it_refuses_to_publish_a_pattern_whose_examples_fail_and_writes_nothing(reviewer):
    pattern = bait()
    before = pattern.version
    pattern.counter_examples += "\n晒图送您一份惊喜"
    pattern.save()
    with pytest.raises(PatternTestFailed) as error:
        pattern_publish(pattern=pattern, by=reviewer)
    assert "晒图送您一份惊喜" in error.value.message
    assert bait().version == before
    assert not PatternRevision.objects.filter(pattern=pattern, version=before + 1).exists()


def test_it_refuses_to_publish_for_someone_without_the_permission(db):
    with pytest.raises(ReviewPermissionDenied):
        pattern_publish(pattern=bait(), by=make_user("mallory", staff=True))


@pytest.mark.django_db(transaction=True)
def test_it_gives_each_version_once_when_two_reviewers_publish_at_once():
    reviewers = [make_user(f"r{i}", superuser=True) for i in range(2)]
    pattern = bait()
    before = pattern.version
    pattern.second_terms += "\n惊喜"
    pattern.save()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def publish(user):
        try:
            barrier.wait()
            results.append(pattern_publish(pattern=ContentPattern.objects.get(pk=pattern.pk), by=user))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r is None for r in results) == [False, True]  # the second found nothing to publish
    versions = list(PatternRevision.objects.filter(pattern=pattern).values_list("version", flat=True))
    assert versions == list(range(before + 1, 0, -1))  # one new version, each number once


def test_a_published_pattern_makes_pending_templates_stored_findings_stale_and_the_refresh_adds_it(
    reviewer, alice, alice_shop, django_capture_on_commit_callbacks
):
    text = "下单后截图私戳客服领取惊喜" + TAIL
    template = template_submit(shop=alice_shop, by=alice, name="券", use="coupon", message_class="marketing",
                               text=text)  # fmt: skip
    assert (template.checked_findings, template.checked_key) == ([], template_findings_key(template))
    pattern = ContentPattern.objects.create(
        rule="TPL-REVIEW-BAIT", name="截图领惊喜", first_terms="截图", second_terms="惊喜", max_gap=8,
        message="“{term}”诱导评价。", hint="请删除。", examples="截图找客服领惊喜",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        pattern_publish(pattern=pattern, by=reviewer)
    template.refresh_from_db()
    assert template.checked_key != template_findings_key(template)  # stale: the pattern is an input
    assert len(enqueued) == 1
    enqueued[0]()  # the refresh task (synchronous in tests)
    template.refresh_from_db()
    assert template.checked_key == template_findings_key(template)
    assert [(f["rule"], f["list_version"]) for f in template.checked_findings] == [("TPL-REVIEW-BAIT", 1)]
    assert review_findings_refresh(kind="template") == 0  # nothing stale any more
