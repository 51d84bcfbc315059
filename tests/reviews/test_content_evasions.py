"""Word-list, link and phone rules hold against disguised words; spans point at the typed text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviews.models import Confusable, ConfusableKind, WordList, WordListTerm
from reviews.policy.checker import check_content
from reviews.policy.confusables import published_confusables
from reviews.policy.text import digits_view, evasion_view, link_view
from reviews.policy.wordlists import CompiledList, published_lists
from reviews.services.confusables import confusable_add
from reviews.services.wordlists import wordlist_publish

pytestmark = pytest.mark.django_db

TAIL = "，领券：${coupon_link}"


def found(text: str) -> list[tuple[str, str, str]]:
    """(rule, the typed characters the finding covers, severity) of every finding."""
    findings = check_content(kind="template", text=text).findings
    return [(f.rule, text[f.start:f.end], f.severity) for f in findings]


def rules_of(text: str, rule: str) -> list[str]:
    return [typed for r, typed, _severity in found(text) if r == rule]


# --- pinyin ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("售后加我 wei xin 领红包" + TAIL, "wei xin"),
        ("售后加我weixin领红包" + TAIL, "weixin"),
        ("售后加我WeiXin领红包" + TAIL, "WeiXin"),
        ("售后加wei信领红包" + TAIL, "加wei信"),
        ("售后jia wei xin领红包" + TAIL, "jia wei xin"),
        ("售后请加我 wei-xin 领红包" + TAIL, "wei-xin"),
        ("进qun领福利" + TAIL, "qun"),
        ("下单后去taobao搜同款" + TAIL, "taobao"),
        ("售后加我 wei xing 领红包" + TAIL, "wei xing"),  # near-homophone: -ng as -n
        ("关注gong zong hao领券" + TAIL, "gong zong hao"),  # zh as z
    ],
)
def test_it_matches_a_terms_pinyin_in_latin_letters(text, typed):
    assert rules_of(text, "TPL-OFFSITE") == [typed]


@pytest.mark.parametrize(
    "text",
    [
        "新款women连衣裙上新" + TAIL,  # pinyin-like English, no listed word
        "维新路门店开业，欢迎光临" + TAIL,  # 维新 sounds like 微信 but is typed in 汉字: no pinyin match
        "人群定向推荐renqun系列" + TAIL,  # qun inside a longer Latin word is not 群
        "连衣裙新品上市" + TAIL,  # 裙 alone is a skirt
        "quntin系列新品" + TAIL,  # not pinyin: no syllable edges inside
    ],
)
def test_it_leaves_pinyin_lookalikes_that_are_no_listed_word(text):
    assert rules_of(text, "TPL-OFFSITE") == []


def test_near_homophone_pinyin_reaches_review_bait_too():
    assert rules_of("收货后 hao pin fan xian 5元" + TAIL, "TPL-REVIEW-BAIT") == ["hao pin fan xian"]


def test_abbreviations_are_data_in_the_confusables_table():
    assert rules_of("售后加vx：alice888" + TAIL, "TPL-OFFSITE") == ["加vx"]
    assert rules_of("关注gzh领券" + TAIL, "TPL-OFFSITE") == ["gzh"]
    assert rules_of("加VIP享折扣" + TAIL, "TPL-OFFSITE") == []  # a Latin variant only as a whole word
    assert rules_of("限时vxyz系列" + TAIL, "TPL-OFFSITE") == []
    assert rules_of("搜索mmd领券" + TAIL, "TPL-OFFSITE") == []
    confusable_add(variant="mmd", canonical="美团", kind=ConfusableKind.ABBREVIATION)
    assert rules_of("搜索mmd领券" + TAIL, "TPL-OFFSITE") == ["mmd"]


@pytest.mark.parametrize(
    ("text", "rule", "typed"),
    [
        ("抖Y搜索同款，直播间更优惠" + TAIL, "TPL-OFFSITE", "抖Y"),
        ("售后加微x：alice888" + TAIL, "TPL-OFFSITE", "加微x"),
        ("京d客服提醒您，会员券即将到期" + TAIL, "TPL-IMPERSONATE", "京d客服"),
    ],
)
def test_it_reads_a_word_with_one_character_written_as_its_initial(text, rule, typed):
    assert typed in rules_of(text, rule)


@pytest.mark.parametrize(
    "text",
    [
        "3D一体成型，舒适透气" + TAIL,  # d一 would be 第一: the initial must stand alone
        "抖you同款T恤上新" + TAIL,  # y continues a Latin word
        "V领毛衣两件9折" + TAIL,
    ],
)
def test_an_initial_inside_a_latin_word_or_code_is_no_evasion(text):
    assert [r for r, _typed, _s in found(text) if r in {"TPL-OFFSITE", "TPL-ADLAW"}] == []


# --- look-alikes and homophones ------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "rule", "typed"),
    [
        ("售后加我薇信领红包" + TAIL, "TPL-OFFSITE", "薇信"),
        ("售后加我威信领红包" + TAIL, "TPL-OFFSITE", "威信"),
        ("售后加我徽信领红包" + TAIL, "TPL-OFFSITE", "徽信"),
        ("扣扣号123456领红包" + TAIL, "TPL-OFFSITE", "扣扣号"),
        ("企鹅号123456领红包" + TAIL, "TPL-OFFSITE", "企鹅号"),
        ("淘寶同款更便宜" + TAIL, "TPL-OFFSITE", "淘寶"),
        ("京東客服提醒您" + TAIL, "TPL-IMPERSONATE", "京東客服"),
        ("售后加我ԛԛ：123456" + TAIL, "TPL-OFFSITE", "ԛԛ"),  # Cyrillic ԛ for q
        ("ＱＱ：123456" + TAIL, "TPL-OFFSITE", "ＱＱ"),
        ("全网ta0bao最低" + TAIL, "TPL-OFFSITE", "ta0bao"),
        ("晶東客服提醒您" + TAIL, "TPL-IMPERSONATE", "晶東客服"),  # characters first, then words
        ("售后请加微亻言：alice888" + TAIL, "TPL-OFFSITE", "加微亻言"),  # 信 split into 亻言
        ("新品已在小红薯种草" + TAIL, "TPL-OFFSITE", "在小红薯"),
    ],
)
def test_it_sees_through_look_alikes_homophones_and_width(text, rule, typed):
    assert typed in rules_of(text, rule)


@pytest.mark.parametrize(
    "text",
    [
        "蔷薇花茶买一送一" + TAIL,
        "权威检测，放心选购" + TAIL,
        "企鹅玩偶上新，萌萌哒" + TAIL,  # kept as written: a penguin, not QQ
        "QQ音乐会员专享" + TAIL,
        "QQ弹弹的果冻布丁" + TAIL,
        "衬衫加裙子两件套" + TAIL,
        "微心愿活动开启" + TAIL,
        "烟台好苹果，买二送一" + TAIL,
        "新鲜小红薯5斤装，产地直发" + TAIL,
        "伊利QQ星儿童成长牛奶" + TAIL,
    ],
)
def test_it_leaves_real_words_that_look_like_variants(text):
    assert [r for r, _typed, _s in found(text) if r in {"TPL-OFFSITE", "TPL-REVIEW-BAIT"}] == []


def test_a_longer_variant_kept_as_written_shields_it_from_a_shorter_one():
    assert rules_of("企鹅抱枕新品" + TAIL, "TPL-OFFSITE") == []
    assert rules_of("企鹅：123456" + TAIL, "TPL-OFFSITE") == ["企鹅"]


# --- separators ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "rule", "typed"),
    [
        ("售后加 微 信 领红包" + TAIL, "TPL-OFFSITE", "加 微 信"),
        ("售后联系微\u200b信领红包" + TAIL, "TPL-OFFSITE", "微\u200b信"),
        ("售后联系微.信：alice" + TAIL, "TPL-OFFSITE", "微.信"),
        ("售后联系微、信：alice" + TAIL, "TPL-OFFSITE", "微、信"),
        ("淘—宝同款更便宜" + TAIL, "TPL-OFFSITE", "淘—宝"),
        ("好，评，返，现5元" + TAIL, "TPL-REVIEW-BAIT", "好，评，返，现"),
        ("全*网*最*低*价" + TAIL, "TPL-ADLAW", "全*网*最*低*价"),
    ],
)
def test_it_ignores_separators_between_the_characters_of_a_word(text, rule, typed):
    assert typed in rules_of(text, rule)


@pytest.mark.parametrize(
    "text",
    [
        "数量有限，先到先得，快，手慢无" + TAIL,  # 快，手慢无: two clauses, not 快手
        "全场包邮。群星演唱会门票同步开售" + TAIL,  # 群星 is an exception, the 。 ends a clause
    ],
)
def test_two_clauses_never_join_into_a_word(text):
    assert rules_of(text, "TPL-OFFSITE") == []


def test_an_exception_split_by_a_clause_mark_masks_nothing():
    # 第一。次日达: 第一 is a claim; the exception 第一次 is not what was written.
    assert rules_of("全网第一。次日达" + TAIL, "TPL-ADLAW") == ["第一"]
    assert rules_of("第一次下单立减" + TAIL, "TPL-ADLAW") == []


# --- links ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("访问www点taobao点com领券", "www点taobao点com"),
        ("访问alice。com了解更多", "alice。com"),
        ("访问 alice dot com 了解更多", "alice dot com"),
        ("访问alice(dot)com了解更多", "alice(dot)com"),
        ("访问alice[.]com了解更多", "alice[.]com"),
        ("领券：3。cn/2aBcD4e，先到先得", "3。cn/2aBcD4e"),
        ("售后邮箱alice艾特163点com", "163点com"),
        ("访问 www . alice . com 了解更多", "www . alice . com"),
    ],
)
def test_it_reads_dot_words_as_the_dot_of_a_domain(text, typed):
    assert rules_of(text, "TPL-LINK") == [typed]


def test_brackets_around_an_obfuscated_dot_are_symbols_too():
    assert rules_of("访问alice[.]com了解更多", "TPL-SYMBOL") == ["[", "]"]
    text = "官网alice(点)com，欢迎访问"
    assert rules_of(text, "TPL-LINK") == ["alice(点)com"]
    (punct,) = [f for f in check_content(kind="template", text=text).findings if f.rule == "TPL-PUNCT"]
    assert [text[a:b] for a, b in punct.places] == ["(", ")"]


@pytest.mark.parametrize(
    "text",
    [
        "今晚8点AI直播，不见不散" + TAIL,
        "3点半开抢，12点结束" + TAIL,
        "新款手机壳适配iPhone。VIP会员下单再享9折" + TAIL,
        "晚上9点VIP专场开启" + TAIL,
        "数据点com系列？不，是点心" + TAIL,
        "v2.0版本上线，9.9元起" + TAIL,
    ],
)
def test_times_and_sentences_are_no_links(text):
    assert rules_of(text, "TPL-LINK") == []


# --- phone numbers ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("客服电话138-0013-8000", "138-0013-8000"),
        ("客服电话138 0013 8000", "138 0013 8000"),
        ("客服电话138—0013—8000", "138—0013—8000"),
        ("客服电话１３８００１３８０００", "１３８００１３８０００"),
        ("客服电话一三八零零一三八零零零", "一三八零零一三八零零零"),
        ("客服电话壹叁捌零零壹叁捌零零零", "壹叁捌零零壹叁捌零零零"),
        ("客服电话幺三八 零零幺三 八零零零", "幺三八 零零幺三 八零零零"),
        ("客服电话l38OOl38OOO", "l38OOl38OOO"),
        ("客服电话1.3.8.0.0.1.3.8.0.0.0", "1.3.8.0.0.1.3.8.0.0.0"),
        ("客服电话1\u200b38\u200b0013\u200b8000", "1\u200b38\u200b0013\u200b8000"),
        ("客服电话010-12345678", "010-12345678"),
        ("客服电话400-123-4567", "400-123-4567"),
    ],
)
def test_it_finds_phone_numbers_however_they_are_written(text, typed):
    assert rules_of(text + TAIL, "TPL-OFFSITE") == [typed]


@pytest.mark.parametrize(
    "text",
    [
        "2024.11.11 12:00准时开抢",
        "满199减30，满299减50，满399减80",
        "第一件9.9元，第二件半价，3.5折封顶",
        "hello, 1000件库存，先到先得",
        "订单号1234567890123已发货",  # 13 digits: not a phone number
        "一二三四五六七八九十，倒数开始",
    ],
)
def test_prices_dates_and_counts_are_no_phone_numbers(text):
    assert rules_of(text + TAIL, "TPL-OFFSITE") == []


# --- spans, views, lists as data ---------------------------------------------------------------

def test_every_view_maps_back_to_the_typed_text():
    text = "加 ＷＥＩ.xin 与 一三八零零一三八零零零 与 alice点com"
    view = evasion_view(text, published_confusables())
    start = view.text.index("加微信")  # weixin is a variant of 微信 in the table
    assert text[slice(*view.span(start, start + 3))] == "加 ＷＥＩ.xin"
    digits = digits_view(text)
    at = digits.text.index("13800138000")
    assert text[slice(*digits.span(at, at + 11))] == "一三八零零一三八零零零"
    links = link_view(text)
    at = links.text.index("alice.com")
    assert text[slice(*links.span(at, at + 9))] == "alice点com"


def test_a_new_term_catches_its_pinyin_and_look_alikes_once_published(reviewer):
    offsite = WordList.objects.get(rule="TPL-OFFSITE")
    text = "去 de wu 和得勿搜同款" + TAIL
    assert rules_of(text, "TPL-OFFSITE") == []
    WordListTerm.objects.create(wordlist=offsite, term="得物")
    wordlist_publish(wordlist=offsite, by=reviewer)
    assert rules_of(text, "TPL-OFFSITE") == ["de wu"]
    confusable_add(variant="得勿", canonical="得物", kind=ConfusableKind.HOMOPHONE, by=reviewer)
    assert rules_of(text, "TPL-OFFSITE") == ["de wu", "得勿"]


def test_a_proposal_is_compiled_without_publishing_anything():
    """The dry run's path: a candidate list or table, compiled in memory."""
    table = published_confusables()
    candidate = CompiledList.build(
        rule="TPL-OFFSITE", version=0, message="", hint="", terms=[("得物", "block")], exceptions=[],
        confusables=table,
    )
    assert candidate.find("去de wu搜同款") == [(1, 6, "block")]
    assert candidate.find("去得勿搜同款") == []
    proposed = table.with_pairs([("得勿", "得物", ConfusableKind.HOMOPHONE)])
    assert CompiledList.build(
        rule="TPL-OFFSITE", version=0, message="", hint="", terms=[("得物", "block")], exceptions=[],
        confusables=proposed,
    ).find("去得勿搜同款") == [(1, 3, "block")]
    lists = {w.rule: w for w in published_lists(confusables=proposed)}
    assert lists["TPL-OFFSITE"].confusables is proposed
    assert not Confusable.objects.filter(variant="得勿").exists()
    assert published_confusables() is table


# --- properties ------------------------------------------------------------------------------

EVASIVE_PIECES = st.sampled_from([
    "微", "信", "薇", "扣", "企鹅", "加", "wei", " ", "xin", "vx", "Q", "q", "点", "。", ".", "com", "www",
    "dot", "1", "3", "8", "0", "一", "三", "八", "零", "l", "O", "-", "—", "，", "、", "\u200b", "Ｑ", "１",
    "${shop_name}", "${coupon_link}", "好", "评", "返现", "第一", "次", "群", "人", "亻言", "東", "ԛ", "™",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(EVASIVE_PIECES, max_size=30).map("".join))
def test_every_span_covers_typed_characters_whatever_the_evasion(text):
    for finding in check_content(kind="template", text=text).findings:
        assert 0 <= finding.start <= finding.end <= len(text)
        if finding.rule in {"TPL-OFFSITE", "TPL-LINK", "TPL-ADLAW", "TPL-REVIEW-BAIT", "TPL-IMPERSONATE"}:
            typed = text[finding.start:finding.end]
            assert typed
            assert typed.strip() == typed, f"a span starts or ends on a separator: {typed!r}"
