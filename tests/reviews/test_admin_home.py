"""The reviewers' admin: the home page's queue counts, the audit trail's columns and labels."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reviews.models import MessageTemplate, ReviewDecision, Signature
from reviews.services.signatures import signature_submit
from reviews.services.templates import template_submit
from tests.factories import make_shop, make_user

pytestmark = pytest.mark.django_db

TEXT = "${shop_name}送您${coupon_amount}优惠券，${coupon_threshold}，${coupon_expiry}前有效：${coupon_link}"


def submit(owner, n: int, *, overdue: int = 0) -> None:
    """``n`` pending signatures and templates of ``n`` shops; the first ``overdue`` of each are late."""
    for i in range(n):
        shop = make_shop(f"朵拉家居{i}号店", owner=owner)
        signature_submit(shop=shop, text=f"朵拉家居{shop.pk}", by=owner)
        template_submit(shop=shop, by=owner, name=f"券{i}", use="coupon", message_class="marketing",
                        text=TEXT)
    late = timezone.now() - dt.timedelta(hours=3)
    for model in (Signature, MessageTemplate):
        pending = model.objects.filter(state="pending").order_by("id")
        ids = list(pending.values_list("id", flat=True)[:overdue])
        model.objects.filter(pk__in=ids).update(due_at=late)


def queue_row(body: str, url: str) -> str:
    start = body.index(f'data-queue="{url}"')
    return body[start:body.index("</tr>", start)]


def test_the_admin_home_shows_pending_and_overdue_counts_per_queue_with_links(client, reviewer):
    submit(make_user("dora"), 3, overdue=1)
    client.force_login(reviewer)
    response = client.get(reverse("admin:index"))
    body = response.content.decode()
    assert response.status_code == 200 and 'id="review-queues"' in body
    for name, model in (("signature", Signature), ("messagetemplate", MessageTemplate)):
        url = reverse(f"admin:reviews_{name}_changelist")
        row = queue_row(body, url)
        assert f'href="{url}?queue=pending">3<' in row
        assert f'href="{url}?queue=overdue"' in row and "⚠ 1" in row
        assert model.objects.filter(state="pending").count() == 3
    assert "签名审核" in body and "模板审核" in body


def test_the_admin_home_counts_in_a_fixed_number_of_queries(client, reviewer):
    owner = make_user("dora")
    submit(owner, 1)
    client.force_login(reviewer)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin:index"))
    submit(owner, 12, overdue=5)
    with CaptureQueriesContext(connection) as many:
        body = client.get(reverse("admin:index")).content.decode()
    assert "⚠ 5" in body
    assert len(many) == len(few)


def test_a_staff_user_without_the_queues_sees_no_counts(client):
    client.force_login(make_user("ops", staff=True))
    assert 'id="review-queues"' not in client.get(reverse("admin:index")).content.decode()


def test_the_audit_trail_names_kinds_in_chinese_and_filters_by_them(client, reviewer, alice, alice_shop):
    signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    template_submit(shop=alice_shop, by=alice, name="券", use="coupon", message_class="marketing", text=TEXT)
    client.force_login(reviewer)
    url = reverse("admin:reviews_reviewdecision_changelist")
    body = client.get(url).content.decode()
    assert '<td class="field-kind_display">签名</td>' in body
    assert '<td class="field-kind_display">模板</td>' in body
    assert ">signature<" not in body and ">template<" not in body
    assert "「店铺名称」送您" in body and "${" not in body  # the snapshot reads as the merchant wrote it
    assert "?kind=signature" in body and "?kind=template" in body
    only = client.get(url, {"kind": "template"}).content.decode()
    assert only.count('<td class="field-kind_display">') == 1 and "模板" in only
    assert ReviewDecision.objects.count() == 2


def test_the_audit_trail_pages_in_a_fixed_number_of_queries(client, reviewer):
    owner = make_user("dora")
    submit(owner, 1)
    client.force_login(reviewer)
    url = reverse("admin:reviews_reviewdecision_changelist")
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    submit(owner, 10)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


def test_the_template_queue_reads_variables_as_labels_in_a_fixed_number_of_queries(client, reviewer):
    owner = make_user("dora")
    submit(owner, 1)
    client.force_login(reviewer)
    url = reverse("admin:reviews_messagetemplate_changelist")
    with CaptureQueriesContext(connection) as few:
        body = client.get(url).content.decode()
    assert "「店铺名称」送您「优惠券面额」" in body and "${shop_name}" not in body
    submit(owner, 10)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)
