"""Each TPL-* rule: a blocking example and a harmless near-miss that passes."""

from __future__ import annotations

import pytest

from reviews.policy.checker import check_content

pytestmark = pytest.mark.django_db

COUPON_TAIL = "，领券：${coupon_link}"


def rules_of(text: str, **kwargs) -> set[str]:
    return {f.rule for f in check_content(kind="template", text=text, **kwargs).findings}


def blocking_rules(text: str, **kwargs) -> set[str]:
    return {
        f.rule
        for f in check_content(kind="template", text=text, **kwargs).findings
        if f.severity == "block"
    }


# (rule, blocking example, near-miss that must pass without any finding)
CASES = [
    ("TPL-INCOMPLETE", "你好${shop_name}", "你好，${shop_name}新品上市，全场包邮" + COUPON_TAIL),
    (
        "TPL-INCOMPLETE",
        "${shop_name}${coupon_amount}",
        "${shop_name}送您${coupon_amount}优惠券" + COUPON_TAIL,
    ),
    (
        "TPL-SYMBOL",
        "★${shop_name}年终盛典★" + COUPON_TAIL,
        "“${shop_name}”年终盛典——全场满减…" + COUPON_TAIL,
    ),
    (
        "TPL-SYMBOL",
        "${shop_name}{限时}特惠" + COUPON_TAIL,
        "${shop_name}《限时》特惠" + COUPON_TAIL,
    ),
    (
        "TPL-SYMBOL",
        "${shop_name}新品▽上市^_^" + COUPON_TAIL,
        "${shop_name}新品上市，约25℃适宜穿着" + COUPON_TAIL,
    ),
    (
        "TPL-PUNCT",
        "${shop_name}新品上市, 快来抢购!" + COUPON_TAIL,
        "${shop_name}新品9.9元起，10:00开抢，限量1,000件" + COUPON_TAIL,
    ),
    (
        "TPL-PUNCT",
        "${shop_name}(限时)特惠" + COUPON_TAIL,
        "${shop_name}（限时）特惠，VIP (Gold) 专享" + COUPON_TAIL,
    ),
    (
        "TPL-ADLAW",
        "${shop_name}全场最低价" + COUPON_TAIL,
        "${shop_name}今天是活动最后一天" + COUPON_TAIL,
    ),
    (
        "TPL-ADLAW",
        "${shop_name}销量第一的羽绒服" + COUPON_TAIL,
        "${shop_name}第一次下单立减10元" + COUPON_TAIL,
    ),
    (
        "TPL-ADLAW",
        "${shop_name}顶级食材年货礼盒" + COUPON_TAIL,
        "${shop_name}精选食材年货礼盒" + COUPON_TAIL,
    ),
    (
        "TPL-ADLAW",
        "${shop_name}国家级工艺" + COUPON_TAIL,
        "${shop_name}最高立减50元，每人最多限购2件" + COUPON_TAIL,
    ),
    (
        "TPL-REVIEW-BAIT",
        "${shop_name}五星好评返现5元" + COUPON_TAIL,
        "${shop_name}好评如潮的爆款回归" + COUPON_TAIL,
    ),
    (
        "TPL-REVIEW-BAIT",
        "${shop_name}晒图有礼" + COUPON_TAIL,
        "${shop_name}感谢您的支持，欢迎再次光临" + COUPON_TAIL,
    ),
    (
        "TPL-OFFSITE",
        "${shop_name}加群领红包" + COUPON_TAIL,
        "${shop_name}新品适合各类人群" + COUPON_TAIL,
    ),
    (
        "TPL-OFFSITE",
        "${shop_name}群岛风情，加微信领券" + COUPON_TAIL,
        "${shop_name}群岛风情印花裙" + COUPON_TAIL,
    ),
    (
        "TPL-OFFSITE",
        "${shop_name}QQ号：12345678" + COUPON_TAIL,
        "${shop_name}QQ音乐联名耳机" + COUPON_TAIL,
    ),
    (
        "TPL-OFFSITE",
        "${shop_name}加V领福利" + COUPON_TAIL,
        "${shop_name}加VIP会员享折扣" + COUPON_TAIL,
    ),
    (
        "TPL-OFFSITE",
        "${shop_name}热线13812345678" + COUPON_TAIL,
        "${shop_name}满199减30，限量2000件" + COUPON_TAIL,
    ),
    (
        "TPL-OFFSITE",
        "${shop_name}热线021-87654321" + COUPON_TAIL,
        "${shop_name}活动时间2026-11-11" + COUPON_TAIL,
    ),
    (
        "TPL-OFFSITE",
        "${shop_name}拼多多同款" + COUPON_TAIL,
        "${shop_name}天猫精灵音箱到货" + COUPON_TAIL,
    ),
    ("TPL-LINK", "${shop_name}新品详情见www.alice.com", "${shop_name}新品详情见${shop_link}"),
    ("TPL-LINK", "${shop_name}领券t.cn/AbCd", "${shop_name}9.9元包邮，v2.0版本升级" + COUPON_TAIL),
    (
        "TPL-LINK",
        "${shop_name}详情 https://a.example/x",
        "${shop_name}每满100.5元减10元" + COUPON_TAIL,
    ),
    (
        "TPL-IMPERSONATE",
        "京东官方通知：您有优惠券待领取" + COUPON_TAIL,
        "${shop_name}官方旗舰店通知您：新品上市" + COUPON_TAIL,
    ),
    (
        "TPL-IMPERSONATE",
        "系统通知：${shop_name}优惠券到账" + COUPON_TAIL,
        "${shop_name}由京东物流配送，次日达" + COUPON_TAIL,
    ),
    (
        "TPL-VARIABLE",
        "${shop_name}会员${member_level}专享" + COUPON_TAIL,
        "${shop_name}会员专享" + COUPON_TAIL,
    ),
    (
        "TPL-VARIABLE",
        "${coupon_amount}${coupon_threshold}券已到账" + COUPON_TAIL,
        "${coupon_amount}券，${coupon_threshold}，已到账" + COUPON_TAIL,
    ),
    ("TPL-VARIABLE", "亲爱的{0}，新品上市" + COUPON_TAIL, "亲爱的会员，新品上市" + COUPON_TAIL),
    (
        "TPL-LENGTH",
        "${shop_name}" + "精选好物每日上新。" * 60,
        "${shop_name}" + "精选好物每日上新。" * 40,
    ),
    ("TPL-SUFFIX", "【爱丽丝】新品上市" + COUPON_TAIL, "爱丽丝服饰新品上市" + COUPON_TAIL),
    (
        "TPL-SUFFIX",
        "${shop_name}新品上市" + COUPON_TAIL + "，拒收请回复R",
        "${shop_name}新品上市，如有问题请回复客服" + COUPON_TAIL,
    ),
    (
        "TPL-SUFFIX",
        "${shop_name}新品上市，退订回TD" + COUPON_TAIL,
        "${shop_name}新品上市，退换货无忧" + COUPON_TAIL,
    ),
]


@pytest.mark.parametrize(("rule", "blocked", "near_miss"), CASES)
def test_it_blocks_the_example_and_passes_the_near_miss(rule, blocked, near_miss):
    result = check_content(kind="template", text=blocked)
    assert not result.ok
    assert rule in {f.rule for f in result.findings if f.severity == "block"}
    passing = check_content(kind="template", text=near_miss)
    assert passing.ok, passing.findings
    assert passing.findings == []


def test_it_reports_every_finding_with_span_message_and_hint():
    text = "${shop_name}全场最低价" + COUPON_TAIL
    (finding,) = check_content(kind="template", text=text).findings
    assert finding.rule == "TPL-ADLAW"
    assert text[finding.start : finding.end] == "最低价"
    assert finding.severity == "block"
    assert "最低价" in finding.message
    assert finding.hint
    assert finding.list_version == 1  # the seeded version of the list


def test_spans_refer_to_the_typed_text_after_normalisation():
    text = "${shop_name}ＱＱ：１２３４５６７８，全 网 最 低 价" + COUPON_TAIL
    findings = check_content(kind="template", text=text).findings
    typed = {(f.rule, text[f.start : f.end]) for f in findings}
    assert ("TPL-OFFSITE", "ＱＱ") in typed
    assert ("TPL-ADLAW", "全 网 最 低 价") in typed


def test_full_width_chinese_punctuation_is_not_a_punct_finding():
    assert rules_of("${shop_name}新品上市！快来抢购，限时优惠。" + COUPON_TAIL) == set()


def test_a_decimal_point_between_digits_is_fine_but_not_after_chinese():
    assert rules_of("${shop_name}全场9.9元" + COUPON_TAIL) == set()
    assert "TPL-PUNCT" in rules_of("${shop_name}全场包邮." + COUPON_TAIL)


def test_overlapping_terms_are_one_finding():
    # 加V and V信 overlap in 加V信; 微信 lies inside 加微信.
    findings = check_content(
        kind="template", text="${shop_name}加V信或加微信领券" + COUPON_TAIL
    ).findings
    assert [(f.rule, f.start, f.end) for f in findings] == [
        ("TPL-OFFSITE", 12, 15),
        ("TPL-OFFSITE", 16, 19),
    ]


def test_warn_terms_are_shown_but_do_not_block():
    result = check_content(kind="template", text="${shop_name}新品首发" + COUPON_TAIL)
    assert result.ok
    assert [(f.rule, f.severity) for f in result.findings] == [("TPL-ADLAW", "warn")]


def test_variables_of_another_use_are_refused():
    text = "${shop_name}提醒您：${coupon_amount}券即将到期" + COUPON_TAIL
    assert check_content(kind="template", text=text, use="coupon").ok
    result = check_content(kind="template", text=text, use="repurchase")
    assert {f.rule for f in result.findings} == {"TPL-VARIABLE"}
    # Free text (SMS marketing) may use the shop's name and link only.
    assert blocking_rules(text, allowed_variables={"shop_name", "shop_link"}) == {"TPL-VARIABLE"}
    free = check_content(kind="text", text="${shop_name}新品上市，进店看看：${shop_link}")
    assert free.ok
    assert not check_content(kind="text", text=text).ok


def test_a_typed_signature_is_recognised_with_the_shops_signature():
    text = "[爱丽丝服饰]新品上市" + COUPON_TAIL
    assert "TPL-SUFFIX" in blocking_rules(text, signature="爱丽丝服饰")
    assert "TPL-SUFFIX" not in blocking_rules(
        "爱丽丝服饰新品上市" + COUPON_TAIL, signature="爱丽丝服饰"
    )


def test_the_typed_signature_is_one_suffix_finding_not_also_symbols():
    text = "【爱丽丝】新品上市" + COUPON_TAIL
    findings = check_content(kind="template", text=text).findings
    assert [(f.rule, f.start, f.end) for f in findings] == [("TPL-SUFFIX", 0, 5)]


def test_free_text_is_checked_with_the_same_rules():
    result = check_content(kind="text", text="全网最低价，加微信领券，www.abc.com")
    assert {f.rule for f in result.findings} >= {"TPL-ADLAW", "TPL-OFFSITE", "TPL-LINK"}


def test_the_result_is_ok_exactly_when_nothing_blocks():
    assert check_content(kind="template", text="${shop_name}新品上市" + COUPON_TAIL).ok
    assert not check_content(kind="template", text="").ok
    assert {f.rule for f in check_content(kind="template", text="   ").findings} == {
        "TPL-INCOMPLETE"
    }


def test_official_templates_pass_the_checker():
    from reviews.selectors import official_templates

    templates = list(official_templates())
    assert len(templates) >= 5
    for template in templates:
        result = check_content(kind="template", text=template.text, use=template.use)
        assert result.findings == [], (template.name, result.findings)
