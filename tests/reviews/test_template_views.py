"""The merchant's template pages: list, editor with check-as-you-type, submit, versions, withdraw."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reviews.models import MessageTemplate, ReviewState
from reviews.selectors import official_templates
from reviews.services.templates import template_approve, template_submit

pytestmark = pytest.mark.django_db

GOOD = "${shop_name}送您${coupon_amount}优惠券，${coupon_threshold}，${coupon_expiry}前有效：${coupon_link}"


def form_data(**overrides):
    return {
        "name": "优惠券提醒",
        "use": "coupon",
        "message_class": "marketing",
        "text": GOOD,
        **overrides,
    }


def test_it_lists_official_templates_for_use_and_copy(client, alice, alice_shop):
    client.force_login(alice)
    response = client.get(reverse("reviews:templates", args=[alice_shop.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    official = official_templates().first()
    assert official.name in body
    assert f"?copy={official.pk}" in body
    assert reverse("campaigns:new", args=[alice_shop.pk]) + f"?kind={official.use}" in body
    assert "新建自定义模板" in body


def test_the_editor_copies_an_official_template(client, alice, alice_shop):
    client.force_login(alice)
    official = official_templates().first()
    response = client.get(
        reverse("reviews:template_new", args=[alice_shop.pk]) + f"?copy={official.pk}"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert official.text.split("，")[0] in body
    # The picker offers the variables of the use, inserting ${name} tokens.
    assert 'data-token="${coupon_link}"' in body and "领券链接" in body
    assert 'hx-trigger="keyup changed delay:300ms' in body


def test_the_check_marks_findings_as_the_merchant_types(client, alice, alice_shop):
    client.force_login(alice)
    response = client.post(
        reverse("reviews:template_check", args=[alice_shop.pk]),
        form_data(text="全场最低价，加微信领券：${coupon_link}"),
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert '<mark class="finding finding-block" data-rules="TPL-ADLAW"' in body
    assert ">最低价</mark>" in body and ">加微信</mark>" in body
    assert "TPL-OFFSITE" in body
    assert 'id="submit-template" disabled' in body
    assert "<html" not in body  # a fragment for htmx, not a page


def test_the_check_shows_preview_length_parts_and_characters_left(client, alice, alice_shop):
    client.force_login(alice)
    response = client.post(
        reverse("reviews:template_check", args=[alice_shop.pk]),
        form_data(text="新品上市，欢迎选购。"),
    )
    body = response.content.decode()
    # No live signature: counted as the 9-character maximum. 11 + 10 + 6 = 27 → 1 part, 43 left.
    assert 'id="msg-length">27<' in body
    assert 'id="msg-parts">1<' in body
    assert 'id="chars-left">43<' in body
    assert "【店铺签名】新品上市，欢迎选购。拒收请回复R" in body
    assert 'id="submit-template"' in body
    assert 'id="submit-template" disabled' not in body


def test_the_preview_uses_the_live_signature(client, alice, alice_shop, reviewer):
    from reviews.services.signatures import signature_approve, signature_submit

    signature_approve(
        signature=signature_submit(shop=alice_shop, text="爱丽丝", by=alice), reviewer=reviewer
    )
    client.force_login(alice)
    response = client.post(
        reverse("reviews:template_check", args=[alice_shop.pk]),
        form_data(text="${shop_name}新品上市，欢迎选购。", message_class="notify"),
    )
    body = response.content.decode()
    # The merchant's own shop name fills the shop-name variable, never another shop's.
    assert f"【爱丽丝】{alice_shop.name}新品上市，欢迎选购。<" in body
    assert 'id="msg-length">35<' in body  # 5 + 20 (shop_name at its longest) + 10, no suffix


def test_a_template_with_a_blocking_finding_cannot_be_submitted(client, alice, alice_shop):
    client.force_login(alice)
    response = client.post(
        reverse("reviews:template_new", args=[alice_shop.pk]),
        form_data(text="好评返现5元！${coupon_link}"),
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "TPL-REVIEW-BAIT" in body and "不符合规则" in body
    assert not MessageTemplate.objects.filter(shop=alice_shop).exists()


def test_a_clean_template_is_submitted_for_review(client, alice, alice_shop):
    client.force_login(alice)
    response = client.post(reverse("reviews:template_new", args=[alice_shop.pk]), form_data())
    assert response.status_code == 302
    template = MessageTemplate.objects.get(shop=alice_shop)
    assert (template.state, template.text, template.submitted_by) == (
        ReviewState.PENDING,
        GOOD,
        alice,
    )
    page = client.get(reverse("reviews:templates", args=[alice_shop.pk])).content.decode()
    assert "待审核" in page and "撤回" in page


def test_editing_an_approved_template_submits_a_new_version(client, alice, alice_shop, reviewer):
    v1 = template_submit(shop=alice_shop, by=alice, **form_data())
    template_approve(template=v1, reviewer=reviewer)
    client.force_login(alice)
    edit_url = reverse("reviews:template_edit", args=[alice_shop.pk, v1.pk])
    assert "v2" in client.get(edit_url).content.decode()
    response = client.post(edit_url, form_data(text=GOOD + "欢迎选购。"))
    assert response.status_code == 302
    v1.refresh_from_db()
    assert v1.text == GOOD and v1.state == ReviewState.APPROVED
    v2 = MessageTemplate.objects.get(lineage=v1.lineage, version=2)
    assert v2.state == ReviewState.PENDING
    page = client.get(reverse("reviews:templates", args=[alice_shop.pk])).content.decode()
    assert "v1 已通过，仍可使用" in page


def test_the_merchant_withdraws_a_pending_template_after_confirming(client, alice, alice_shop, reviewer):
    v1 = template_submit(shop=alice_shop, by=alice, **form_data())
    template_approve(template=v1, reviewer=reviewer)
    v2 = template_submit(shop=alice_shop, by=alice, previous=v1, **form_data(text=GOOD + "欢迎选购。"))
    client.force_login(alice)
    url = reverse("reviews:template_withdraw", args=[alice_shop.pk, v2.pk])
    # The list links to the confirmation, which says what happens; the GET changes nothing.
    listing = client.get(reverse("reviews:templates", args=[alice_shop.pk])).content.decode()
    assert f'href="{url}"' in listing
    confirm = client.get(url)
    body = confirm.content.decode()
    assert confirm.status_code == 200
    assert "v2" in body and "v1（已通过）" in body and "继续可用" in body and "确认撤回" in body
    v2.refresh_from_db()
    assert v2.state == ReviewState.PENDING
    # Without the token of the version shown, nothing is withdrawn.
    response = client.post(url, {"token": "stale"}, follow=True)
    assert "请重新确认" in response.content.decode()
    v2.refresh_from_db()
    assert v2.state == ReviewState.PENDING
    token = confirm.context["token"]
    response = client.post(url, {"token": token})
    assert response.status_code == 302
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.state, v2.state) == (ReviewState.APPROVED, ReviewState.WITHDRAWN)
    # Nothing pending any more: the confirmation sends the merchant back.
    assert client.get(url).status_code == 302


def test_a_template_without_an_approved_version_says_it_cannot_be_used_after_withdrawal(
    client, alice, alice_shop
):
    template = template_submit(shop=alice_shop, by=alice, **form_data())
    client.force_login(alice)
    url = reverse("reviews:template_withdraw", args=[alice_shop.pk, template.pk])
    body = client.get(url).content.decode()
    assert "没有已通过的版本" in body


def test_another_shops_template_is_not_found(client, alice, alice_shop, bob, bob_shop):
    template = template_submit(shop=alice_shop, by=alice, **form_data())
    client.force_login(bob)
    assert (
        client.get(reverse("reviews:template_edit", args=[bob_shop.pk, template.pk])).status_code
        == 404
    )
    assert (
        client.post(
            reverse("reviews:template_withdraw", args=[bob_shop.pk, template.pk])
        ).status_code
        == 404
    )
    assert (
        client.get(reverse("reviews:template_edit", args=[alice_shop.pk, template.pk])).status_code
        == 404
    )
    template.refresh_from_db()
    assert template.state == ReviewState.PENDING


def test_a_restricted_shop_sees_the_notice_and_cannot_submit(client, charlie, charlie_shop):
    client.force_login(charlie)
    page = client.get(reverse("reviews:templates", args=[charlie_shop.pk])).content.decode()
    assert "短信服务不可用" in page and "新建自定义模板" not in page
    response = client.post(reverse("reviews:template_new", args=[charlie_shop.pk]), form_data())
    assert response.status_code == 400
    assert not MessageTemplate.objects.filter(shop=charlie_shop).exists()


def test_the_template_list_runs_the_same_queries_with_1_or_20_templates(client, alice, alice_shop):
    """The variable chips read the variables once per page, not once per text."""
    url = reverse("reviews:templates", args=[alice_shop.pk])
    client.force_login(alice)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    def submit(i: int) -> None:
        template_submit(shop=alice_shop, by=alice, name=f"模板{i}", use="coupon", message_class="marketing",
                        text=GOOD)  # fmt: skip

    submit(0)
    one = queries()
    for i in range(1, 20):
        submit(i)
    assert queries() == one


def test_official_examples_show_the_viewing_shops_name(client, bob, bob_shop, alice, alice_shop):
    client.force_login(bob)
    body = client.get(reverse("reviews:templates", args=[bob_shop.pk])).content.decode()
    assert bob_shop.name in body
    assert alice_shop.name not in body and "爱丽丝" not in body
    editor = client.get(reverse("reviews:template_new", args=[bob_shop.pk])).content.decode()
    assert "爱丽丝" not in editor


def test_an_overdue_template_review_says_it_is_delayed(client, alice, alice_shop):
    template = template_submit(shop=alice_shop, by=alice, **form_data())
    MessageTemplate.objects.filter(pk=template.pk).update(due_at=timezone.now() - dt.timedelta(hours=1))
    client.force_login(alice)
    body = client.get(reverse("reviews:templates", args=[alice_shop.pk])).content.decode()
    assert "审核已延迟" in body and "前完成审核" not in body


def test_the_editor_shows_variables_as_labels_and_names_them_under_the_box(client, alice, alice_shop):
    client.force_login(alice)
    body = client.post(reverse("reviews:template_check", args=[alice_shop.pk]), form_data()).content.decode()
    marked = body[body.index('id="marked-text"'):body.index("</div>", body.index('id="marked-text"'))]
    assert '<span class="var-chip" title="${coupon_amount}">优惠券面额</span>' in marked
    assert "${" not in marked.replace('title="${', "")
    legend = body[body.index('id="variable-legend"'):]
    assert "使用门槛" in legend and "领券链接" in legend


def test_the_withdraw_confirmation_reads_a_fixed_number_of_queries(client, alice, alice_shop, reviewer):
    first = template_submit(shop=alice_shop, by=alice, **form_data())
    client.force_login(alice)
    url = reverse("reviews:template_withdraw", args=[alice_shop.pk, first.pk])
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    template_approve(template=first, reviewer=reviewer)
    previous = first
    for i in range(6):
        text = GOOD + "欢迎选购" + "。" * (i + 1)
        version = template_submit(shop=alice_shop, by=alice, previous=previous, **form_data(text=text))
        template_approve(template=version, reviewer=reviewer)
        previous = version
    last = template_submit(shop=alice_shop, by=alice, previous=previous, **form_data(text=GOOD + "再见。"))
    url = reverse("reviews:template_withdraw", args=[alice_shop.pk, last.pk])
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)
