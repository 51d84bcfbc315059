"""Word lists are versioned data: terms and exceptions edited, published, traced from a finding."""

from __future__ import annotations

import pytest

from reviews.models import WordList, WordListException, WordListRevision, WordListTerm
from reviews.policy.checker import check_content
from reviews.services.wordlists import wordlist_publish

pytestmark = pytest.mark.django_db

TAIL = "，领券：${coupon_link}"


def adlaw() -> WordList:
    return WordList.objects.get(rule="TPL-ADLAW")


def test_every_list_is_seeded_and_published():
    lists = {w.rule: w for w in WordList.objects.all()}
    assert set(lists) == {"TPL-ADLAW", "TPL-REVIEW-BAIT", "TPL-OFFSITE", "TPL-IMPERSONATE"}
    # Later migrations published TPL-OFFSITE (0016, 0019: QQ弹, QQ星, B站 …; 0022: 绿泡泡) and
    # TPL-IMPERSONATE (0021: 平台消息 …) again.
    assert {rule: w.version for rule, w in lists.items()} == {
        "TPL-ADLAW": 1, "TPL-REVIEW-BAIT": 1, "TPL-OFFSITE": 4, "TPL-IMPERSONATE": 2,
    }
    for wordlist in lists.values():
        revision = WordListRevision.objects.get(wordlist=wordlist, version=wordlist.version)
        assert len(revision.terms) == wordlist.terms.count()
        assert len(revision.exceptions) == wordlist.exceptions.count()


def test_a_new_term_is_published_as_a_new_version_and_used_at_once(reviewer):
    text = "${shop_name}宇宙无敌好吃的薯片" + TAIL
    wordlist = adlaw()
    assert check_content(kind="template", text="${shop_name}爆款好物" + TAIL).ok
    WordListTerm.objects.create(wordlist=wordlist, term="爆款")
    # Not published yet: the checker reads published revisions only.
    assert check_content(kind="template", text="${shop_name}爆款好物" + TAIL).ok
    revision = wordlist_publish(wordlist=wordlist, by=reviewer)
    assert revision.version == 2 and revision.published_by == reviewer
    assert adlaw().version == 2
    (finding,) = check_content(kind="template", text="${shop_name}爆款好物" + TAIL).findings
    assert (finding.rule, finding.list_version) == ("TPL-ADLAW", 2)
    # Older findings stay traceable: version 1 is unchanged.
    assert ["爆款", "block"] not in WordListRevision.objects.get(wordlist=wordlist, version=1).terms
    assert not check_content(kind="template", text=text).ok


def test_publishing_without_a_change_keeps_the_version():
    assert wordlist_publish(wordlist=adlaw()) is None
    assert adlaw().version == 1


def test_an_exception_is_data_that_unblocks_a_harmless_word(reviewer):
    text = "${shop_name}顶级食材礼盒" + TAIL
    assert not check_content(kind="template", text=text).ok
    WordListException.objects.create(wordlist=adlaw(), phrase="顶级食材")
    wordlist_publish(wordlist=adlaw(), by=reviewer)
    assert check_content(kind="template", text=text).findings == []
    # The exception only masks the term inside it.
    assert not check_content(kind="template", text="${shop_name}顶级品质" + TAIL).ok


def test_a_removed_term_no_longer_blocks(reviewer):
    WordListTerm.objects.filter(wordlist=adlaw(), term="顶级").delete()
    wordlist_publish(wordlist=adlaw(), by=reviewer)
    assert check_content(kind="template", text="${shop_name}顶级品质" + TAIL).ok


def test_a_term_can_be_made_a_warning(reviewer):
    WordListTerm.objects.filter(wordlist=adlaw(), term="顶级").update(severity="warn")
    wordlist_publish(wordlist=adlaw(), by=reviewer)
    result = check_content(kind="template", text="${shop_name}顶级品质" + TAIL)
    assert result.ok
    assert [(f.rule, f.severity, f.list_version) for f in result.findings] == [
        ("TPL-ADLAW", "warn", 2)
    ]


def test_terms_match_after_normalisation_whatever_their_case_or_width(reviewer):
    offsite = WordList.objects.get(rule="TPL-OFFSITE")
    seeded = offsite.version
    WordListTerm.objects.create(wordlist=offsite, term="ＷｅＣｈａｔ")
    wordlist_publish(wordlist=offsite, by=reviewer)
    findings = check_content(kind="template", text="${shop_name}搜索wechat领券" + TAIL).findings
    assert [(f.rule, f.list_version) for f in findings] == [("TPL-OFFSITE", seeded + 1)]
