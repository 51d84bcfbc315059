"""The review queues are Django's changelists: a fixed number of queries per page whatever the
number of pending rows, no write on a GET, every row with its truncated text, shop, overdue mark,
stored findings and 审核 link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator

from reviews.admin.workbench import ITEM_CHARS
from reviews.models import MessageTemplate, NeutralName, Signature
from reviews.services.signatures import signature_submit
from reviews.services.templates import template_submit
from tests.factories import make_shop, make_user
from tests.reviews.test_stored_findings import publish_term

pytestmark = pytest.mark.django_db
GOOD = "${shop_name}送您${coupon_amount}优惠券，${coupon_threshold}，${coupon_expiry}前有效：${coupon_link}"
QUEUES = ["admin:reviews_messagetemplate_changelist", "admin:reviews_signature_changelist"]
WRITES = ("INSERT", "UPDATE", "DELETE")


def pending(count: int, *, start: int = 0, owner=None) -> None:
    """``count`` pending templates and signatures, each of its own shop (as merchants submit them)."""
    if owner is None:  # the shops' owner: submitting needs a member allowed to operate
        owner = get_user_model().objects.filter(username="queue-owner").first() or make_user("queue-owner")
    for i in range(start, start + count):
        shop = make_shop(f"待审店铺{i}", owner=owner)
        template_submit(shop=shop, by=owner, name=f"模板{i}", use="coupon", message_class="marketing",
                        text=GOOD)  # fmt: skip
        signature_submit(shop=shop, text=f"待审店铺{i}", by=owner)


def page_queries(client, name: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(name))
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_each_queue_runs_the_same_bounded_queries_with_2_or_50_pending(client, reviewer):
    pending(2)
    client.force_login(reviewer)
    few = {name: len(page_queries(client, name)) for name in QUEUES}
    pending(48, start=2)
    assert MessageTemplate.objects.filter(state="pending").count() == 50
    many = {name: len(page_queries(client, name)) for name in QUEUES}
    assert many == few, "a queue runs more queries with more pending rows (N+1)"
    assert all(count <= 8 for count in many.values()), many  # session, user, 2 permissions, count, rows


def test_a_get_of_either_queue_never_writes(client, reviewer, alice, alice_shop):
    pending(3)
    text = "${shop_name}爆款好物，领券：${coupon_link}"
    template = template_submit(shop=alice_shop, by=alice, name="爆款", use="coupon",
                               message_class="marketing", text=text)  # fmt: skip
    # Stale stored findings of both kinds (no refresh ran) and a row never checked.
    publish_term("爆款", by=reviewer)
    NeutralName.objects.bulk_create([NeutralName(term="待审店铺1", match="exact")])
    MessageTemplate.objects.filter(pk=template.pk).update(checked_key="")
    client.force_login(reviewer)
    for name in QUEUES:
        for query in ("", "?queue=all", "?queue=overdue", "?q=%E5%BE%85%E5%AE%A1"):
            with CaptureQueriesContext(connection) as captured:
                assert client.get(reverse(name) + query).status_code == 200
            sql = [q["sql"].lstrip().upper() for q in captured.captured_queries]
            writes = [statement for statement in sql if statement.startswith(WRITES)]
            assert writes == [], f"{name}{query} wrote: {writes}"


def test_the_template_queue_row_shows_its_columns(client, reviewer, alice, alice_shop):
    alice_shop.name = "爱丽丝<小店>" + "很长的店铺名称" * 6
    alice_shop.save(update_fields=["name"])
    offer = "全场新品八折起，会员再享九五折，" * 8
    long_text = "${shop_name}送您${coupon_amount}优惠券，" + offer + "${coupon_link}"
    template = template_submit(shop=alice_shop, by=alice, name="长模板", use="coupon",
                               message_class="marketing", text=long_text)  # fmt: skip
    MessageTemplate.objects.filter(pk=template.pk).update(due_at=timezone.now() - timedelta(hours=1))
    client.force_login(reviewer)
    body = client.get(reverse(QUEUES[0])).content.decode()
    assert "{#" not in body and "{%" not in body
    # Variables read as their labels (「店铺名称」), never as raw tokens.
    shown = Truncator(f"长模板 v1：「店铺名称」送您「优惠券面额」优惠券，{offer}").chars(ITEM_CHARS)
    assert len(shown) <= ITEM_CHARS and f">{shown}</a>" in body and long_text not in body  # truncated
    assert "爱丽丝&lt;小店&gt;" in body and f"（#{alice_shop.pk}）" in body  # escaped, with the id
    assert '<strong class="review-overdue">⚠ 已超时</strong>' in body
    assert reverse("admin:reviews_messagetemplate_decide", args=[template.pk]) in body
    assert '<span class="review-ok">无发现</span>' in body
    decide = client.get(reverse("admin:reviews_messagetemplate_decide", args=[template.pk])).content.decode()
    assert offer in decide  # the whole text on the decision page
    assert "portal/admin-review.css" in body and "portal/admin-review.css" in decide


def test_the_signature_queue_row_shows_its_columns(client, reviewer, alice, alice_shop):
    signature = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=alice)
    Signature.objects.filter(pk=signature.pk).update(due_at=timezone.now() - timedelta(hours=1))
    client.force_login(reviewer)
    body = client.get(reverse(QUEUES[1])).content.decode()
    assert "【爱丽丝服饰】" in body and "服饰内衣" in body and "⚠ 已超时" in body
    assert reverse("admin:reviews_signature_decide", args=[signature.pk]) in body
