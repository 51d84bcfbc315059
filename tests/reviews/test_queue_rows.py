"""The review queue's rows (reviews.templatetags.review_queue, QueueChangeList): each row links
to its own item, with the queue's filters preserved, and shows its cells as Django would."""

from __future__ import annotations

import re
from urllib.parse import quote as urlquote

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from reviews.models import MessageTemplate
from reviews.services.templates import template_submit

pytestmark = pytest.mark.django_db
GOOD = "${shop_name}送您${coupon_amount}优惠券，${coupon_threshold}，${coupon_expiry}前有效：${coupon_link}"


def test_it_links_each_row_to_its_own_item(client, reviewer, alice, alice_shop, bob, bob_shop):
    mine = template_submit(shop=alice_shop, by=alice, name="爱丽丝的模板", use="coupon",
                           message_class="marketing", text=GOOD)
    theirs = template_submit(shop=bob_shop, by=bob, name="鲍勃的<模板>", use="coupon",
                             message_class="marketing", text=GOOD)
    client.force_login(reviewer)
    body = client.get(reverse("admin:reviews_messagetemplate_changelist") + "?queue=pending").content.decode()
    rows = re.findall(r'<tr><td class="action-checkbox">.*?</tr>', body)
    assert len(rows) == 2
    for template, row in zip(sorted([mine, theirs], key=lambda t: (t.due_at, t.pk)), rows, strict=True):
        change = reverse("admin:reviews_messagetemplate_change", args=[quote(template.pk)])
        preserved = "?_changelist_filters=" + urlquote("queue=pending", safe="")
        assert f'<th class="field-id"><a href="{change}{preserved}">{template.pk}</a></th>' in row
        assert f'<a href="{change}{preserved}">' in row.split('field-item_display">')[1]
        assert f'value="{template.pk}"' in row
        assert reverse("admin:reviews_messagetemplate_decide", args=[template.pk]) in row
    assert "鲍勃的&lt;模板&gt;" in body and "鲍勃的<模板>" not in body  # escaped
    assert MessageTemplate.objects.count() >= 2
