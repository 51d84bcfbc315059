"""The reviewers' template workbench and the word-list admin."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from reviews.models import MessageTemplate, ReviewDecision, ReviewState, WordList, WordListRevision
from reviews.policy.checker import check_content
from reviews.services.templates import template_submit
from tests.factories import make_user

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
GOOD = "${shop_name}送您${coupon_amount}优惠券，${coupon_threshold}，${coupon_expiry}前有效：${coupon_link}"


def submit(shop, user, text=GOOD, name="优惠券提醒"):
    return template_submit(
        shop=shop, by=user, name=name, use="coupon", message_class="marketing", text=text
    )


@pytest.fixture
def mallory(db):
    """Staff who may look at templates but holds no review permission."""
    user = make_user("mallory", staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_messagetemplate"))
    return user


def decide_url(template):
    return reverse("admin:reviews_messagetemplate_decide", args=[template.pk])


def test_the_queue_lists_pending_custom_templates_by_due_time(
    client, reviewer, alice, alice_shop, bob, bob_shop
):
    with time_machine.travel(dt.datetime(2026, 11, 24, 10, 0, tzinfo=SH)):
        first = submit(alice_shop, alice, name="先提交的模板")
    with time_machine.travel(dt.datetime(2026, 11, 25, 10, 0, tzinfo=SH)):
        second = submit(bob_shop, bob, name="后提交的模板")
    client.force_login(reviewer)
    response = client.get(reverse("admin:reviews_messagetemplate_changelist"))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index("先提交的模板") < body.index("后提交的模板")
    assert decide_url(first) in body and decide_url(second) in body
    assert "优惠券到账提醒" not in body  # official templates are never in the queue


def test_the_decision_page_shows_the_text_with_findings_marked(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice, text="${shop_name}新品首发，领券：${coupon_link}")
    client.force_login(reviewer)
    body = client.get(decide_url(template)).content.decode()
    assert '<mark class="finding finding-warn" data-rules="TPL-ADLAW"' in body
    assert ">首发</mark>" in body
    assert "拒收请回复R" in body  # the preview of the message as received
    assert "TPL-ADLAW" in body


def test_a_reviewer_approves_in_the_workbench(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    response = client.post(decide_url(template), {"decision": "approve"})
    assert response.status_code == 302
    template.refresh_from_db()
    assert (template.state, template.decided_by) == (ReviewState.APPROVED, reviewer)
    assert (
        ReviewDecision.objects.filter(
            kind="template", item_id=template.pk, action="approve"
        ).count()
        == 1
    )


def test_a_rejection_needs_a_reason_code(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    response = client.post(decide_url(template), {"decision": "reject"})
    assert response.status_code == 200 and "必须选择驳回原因" in response.content.decode()
    assert MessageTemplate.objects.get(pk=template.pk).state == ReviewState.PENDING
    client.post(
        decide_url(template),
        {"decision": "reject", "reason_code": "offsite", "reason_text": "含联系方式"},
    )
    template.refresh_from_db()
    assert (template.state, template.reason_code) == (ReviewState.REJECTED, "offsite")


def test_staff_without_the_review_permission_cannot_decide_by_any_admin_route(
    client, mallory, alice, alice_shop
):
    template = submit(alice_shop, alice)
    client.force_login(mallory)
    assert client.post(decide_url(template), {"decision": "approve"}).status_code == 403
    client.post(
        reverse("admin:reviews_messagetemplate_changelist"),
        {"action": "bulk_approve", ACTION_CHECKBOX_NAME: [template.pk]},
    )
    assert MessageTemplate.objects.get(pk=template.pk).state == ReviewState.PENDING
    assert not ReviewDecision.objects.filter(kind="template", action="approve").exists()


def test_bulk_approve_approves_only_templates_without_findings(
    client, reviewer, alice, alice_shop, bob, bob_shop
):
    clean = submit(alice_shop, alice)
    warned = submit(bob_shop, bob, text="${shop_name}新品首发，领券：${coupon_link}")
    client.force_login(reviewer)
    client.post(
        reverse("admin:reviews_messagetemplate_changelist"),
        {"action": "bulk_approve", ACTION_CHECKBOX_NAME: [clean.pk, warned.pk]},
    )
    assert MessageTemplate.objects.get(pk=clean.pk).state == ReviewState.APPROVED
    assert MessageTemplate.objects.get(pk=warned.pk).state == ReviewState.PENDING


def change_form_data(response) -> dict:
    """The POST data of an admin change form as it was rendered (main form and inlines)."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for field in formset.management_form:
            data[field.html_name] = field.value()
        forms += list(formset.forms)
    for form in forms:
        for field in form:
            value = field.value()
            if value is not None and value is not False:
                data[field.html_name] = value
    return data


def test_saving_a_word_list_in_the_admin_publishes_a_new_version(client, reviewer):
    wordlist = WordList.objects.get(rule="TPL-REVIEW-BAIT")
    url = reverse("admin:reviews_wordlist_change", args=[wordlist.pk])
    client.force_login(reviewer)
    response = client.get(url)
    assert response.status_code == 200
    data = change_form_data(response)
    count = int(data["terms-TOTAL_FORMS"])
    data["terms-TOTAL_FORMS"] = str(count + 1)
    data[f"terms-{count}-term"] = "求五星"
    data[f"terms-{count}-severity"] = "block"
    data[f"terms-{count}-wordlist"] = str(wordlist.pk)
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    wordlist.refresh_from_db()
    assert wordlist.version == 2
    revision = WordListRevision.objects.get(wordlist=wordlist, version=2)
    assert (revision.published_by, ["求五星", "block"] in revision.terms) == (reviewer, True)
    (finding,) = check_content(
        kind="template", text="${shop_name}新品上市，求五星支持：${coupon_link}"
    ).findings
    assert (finding.rule, finding.list_version) == ("TPL-REVIEW-BAIT", 2)
    # Saving again without a change publishes nothing new.
    client.post(url, change_form_data(client.get(url)))
    wordlist.refresh_from_db()
    assert wordlist.version == 2


def test_published_versions_are_read_only(client, reviewer):
    revision = WordListRevision.objects.first()
    client.force_login(reviewer)
    url = reverse("admin:reviews_wordlistrevision_change", args=[revision.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"version": 99})
    revision.refresh_from_db()
    assert revision.version == 1


def test_the_read_only_change_page_shows_the_review_panel(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    response = client.get(reverse("admin:reviews_messagetemplate_change", args=[template.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "审核记录" in body and "用户收到的短信" in body


def test_platform_staff_publish_official_templates_that_pass_the_checker(client):
    admin_user = make_user("ops", superuser=True)
    client.force_login(admin_user)
    url = reverse("admin:reviews_officialtemplate_add")
    data = {"name": "新客专享", "use": "coupon", "message_class": "marketing"}
    response = client.post(url, {**data, "text": "全网最低价！领券：${coupon_link}"})
    assert response.status_code == 200 and "TPL-ADLAW" in response.content.decode()
    assert not MessageTemplate.objects.filter(name="新客专享").exists()
    text = "欢迎光临${shop_name}，新客专享${coupon_amount}券，${coupon_threshold}：${coupon_link}"
    response = client.post(url, {**data, "text": text})
    assert response.status_code == 302
    official = MessageTemplate.objects.get(name="新客专享")
    assert (official.origin, official.state, official.shop) == (
        "official",
        ReviewState.APPROVED,
        None,
    )
    assert official.decided_by == admin_user
