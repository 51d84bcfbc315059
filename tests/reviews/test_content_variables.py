"""Variables as data, rendering, and the checker's robustness on arbitrary input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviews.models import TemplateVariable
from reviews.policy.checker import check_content
from reviews.policy.variables import VariableMissing, render, render_examples, tokens, variable_specs

pytestmark = pytest.mark.django_db

REQUIRED = {
    "shop_name": "店铺名称",
    "coupon_amount": "优惠券面额",
    "coupon_threshold": "使用门槛",
    "coupon_expiry": "有效期",
    "coupon_link": "领券链接",
    "shop_link": "店铺链接",
    "product_name": "商品名称",
}


def test_the_required_variables_are_seeded_with_labels_types_examples_and_lengths():
    specs = variable_specs()
    assert {name: spec.label for name, spec in specs.items()} == REQUIRED
    for spec in specs.values():
        assert spec.type in {"text", "money", "date", "link"}
        assert spec.example and len(spec.example) <= spec.max_length
    assert variable_specs(use="repurchase").keys() == {"shop_name", "shop_link", "product_name"}


def test_it_renders_tokens_with_values():
    text = "${shop_name}送您${coupon_amount}券：${coupon_link}"
    values = {"shop_name": "爱丽丝", "coupon_amount": "20元", "coupon_link": "https://3.cn/x"}
    # A link is followed by a space (it never runs into the text or suffix after it).
    assert render(text=text, values=values) == "爱丽丝送您20元券：https://3.cn/x "


def test_it_refuses_to_render_a_token_without_a_value():
    with pytest.raises(VariableMissing) as caught:
        render(text="${shop_name}送您${coupon_amount}券", values={"shop_name": "爱丽丝"})
    assert caught.value.rule == "TPL-VARIABLE"
    assert "${coupon_amount}" in caught.value.message


def test_examples_fill_the_preview_with_a_neutral_shop_name_or_the_viewing_shops():
    specs = variable_specs()
    assert render_examples(text="${shop_name}上新", specs=specs) == "您的店铺上新"
    own = render_examples(text="${shop_name}上新", specs=specs, values={"shop_name": "朵拉家居"})
    assert own == "朵拉家居上新"


def test_a_longer_maximum_in_the_admin_changes_length_and_parts():
    text = "${product_name}补货啦，欢迎回购。"
    before = check_content(kind="template", text=text).length
    TemplateVariable.objects.filter(name="product_name").update(max_length=40)
    assert check_content(kind="template", text=text).length == before + 20


def test_an_inactive_variable_is_unknown():
    TemplateVariable.objects.filter(name="product_name").update(active=False)
    result = check_content(kind="template", text="${product_name}补货啦，欢迎回购。")
    assert [f.rule for f in result.findings] == ["TPL-VARIABLE"]


PIECES = st.one_of(
    st.text(max_size=3),
    st.sampled_from(list("最低价第一群QQ微信【】{}$,.!()（），。０１２３４５６７８９ \n")),
    st.sampled_from(
        ["${shop_name}", "${coupon_link}", "${x}", "www.", "http://", "回T退订", "人群", "1381234"]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(PIECES, max_size=40).map("".join))
def test_the_checker_never_fails_and_spans_stay_inside_the_text(text):
    result = check_content(kind="template", text=text)
    assert result.ok == (not any(f.severity == "block" for f in result.findings))
    assert result.parts >= 1 and result.length >= len(text) - sum(len(t.name) + 3 for t in tokens(text))
    for finding in result.findings:
        assert 0 <= finding.start <= finding.end <= len(text)
        assert all(finding.start <= a < b <= finding.end for a, b in finding.spans)
        assert finding.rule.startswith("TPL-")
        assert finding.message and finding.hint
