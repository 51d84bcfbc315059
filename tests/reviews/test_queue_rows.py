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


def _queue_page(client, query: str = "") -> str:
    body = client.get(reverse("admin:reviews_messagetemplate_changelist") + query).content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)


@pytest.mark.parametrize("query", ["", "?queue=all", "?o=-5.1", "?q=%E9%B2%8D%E5%8B%83"])
def test_it_renders_the_same_page_from_light_rows_as_from_model_instances(
    client, reviewer, alice, alice_shop, bob, bob_shop, monkeypatch, query
):
    from reviews.admin.templates import MessageTemplateAdmin
    from tests.campaigns.campaign_fixtures import live_signature_for
    from tests.reviews.test_stored_findings import publish_term

    live_signature_for(alice_shop, alice, reviewer)
    publish_term("爆款", by=reviewer)  # a warning: the second template shows a finding
    submitted = [
        template_submit(shop=alice_shop, by=alice, name="爱丽丝的模板", use="coupon",
                        message_class="marketing", text=GOOD),
        template_submit(shop=bob_shop, by=bob, name="鲍勃的<模板>", use="coupon",
                        message_class="marketing", text="${shop_name}爆款好物，领券：${coupon_link}"),
        template_submit(shop=bob_shop, by=bob, name="鲍勃的第二个", use="coupon",
                        message_class="marketing", text=GOOD),
    ]
    # One overdue, one decided (shown by ?queue=all without its 审核 link).
    MessageTemplate.objects.filter(pk=submitted[0].pk).update(due_at=submitted[0].submitted_at)
    MessageTemplate.objects.filter(pk=submitted[2].pk).update(state="rejected")
    client.force_login(reviewer)
    _queue_page(client, query)  # findings stored back on the first view: both pages read them
    light = _queue_page(client, query)
    monkeypatch.setattr(MessageTemplateAdmin, "list_only", ())  # Django's model instances
    instances = _queue_page(client, query)
    assert light.count('<tr><td class="action-checkbox">') >= 1
    if query == "":
        assert light.count('<tr><td class="action-checkbox">') == 2
        assert "TPL-ADLAW" in light and "已超时" in light and "鲍勃的&lt;模板&gt;" in light
    assert light == instances


def test_a_light_row_has_the_models_text_and_its_related_rows(alice, alice_shop):
    from reviews.admin.workbench import queue_rows_of
    from reviews.services.templates import official_template_create

    mine = template_submit(shop=alice_shop, by=alice, name="爱丽丝的模板", use="coupon",
                           message_class="marketing", text=GOOD)
    official = official_template_create(name="官方模板", use="coupon", message_class="marketing", text=GOOD)
    columns = ("id", "name", "version", "text", "state", "due_at", "shop__id", "shop__name",
               "shop__category__id", "shop__category__name")
    both = MessageTemplate.objects.filter(pk__in=[mine.pk, official.pk]).order_by("id")
    rows = queue_rows_of(both, columns)
    assert [(str(r), r.review_summary(), r.pk) for r in rows] == [
        (str(t), t.review_summary(), t.pk) for t in (mine, official)
    ]
    assert [r.is_overdue for r in rows] == [mine.is_overdue, official.is_overdue]
    assert (rows[0].shop_id, rows[0].shop.name) == (alice_shop.pk, alice_shop.name)
    assert (rows[0].shop.category_id, rows[0].shop.category.name) == (
        alice_shop.category_id, alice_shop.category.name)
    assert (rows[1].shop, rows[1].shop_id) == (None, None)  # no shop: no row, as a model has it
    with pytest.raises(AttributeError):
        getattr(rows[0], "use")  # noqa: B009 - a column the rows did not load is an error, never a query


def test_it_shows_submission_and_due_times_in_the_platforms_time_zone(client, reviewer, alice, alice_shop):
    from django.utils import timezone

    template = template_submit(shop=alice_shop, by=alice, name="爱丽丝的模板", use="coupon",
                               message_class="marketing", text=GOOD)
    client.force_login(reviewer)
    body = _queue_page(client)
    local = timezone.localtime(template.submitted_at).strftime("%Y-%m-%d %H:%M")
    due = timezone.localtime(template.due_at).strftime("%Y-%m-%d %H:%M")
    assert timezone.localtime(template.submitted_at).utcoffset().total_seconds() == 8 * 3600  # Asia/Shanghai
    assert f'<td class="field-submitted_display">{local}</td>' in body
    assert f'<td class="field-due_display">{due}</td>' in body


@pytest.mark.parametrize("query", ["", "?queue=all"])
def test_the_signature_queue_renders_the_same_page_from_light_rows(
    client, reviewer, alice, alice_shop, bob, bob_shop, monkeypatch, query
):
    from reviews.admin.signatures import SignatureAdmin
    from reviews.models import NeutralName
    from reviews.models.signatures import Signature
    from reviews.services.signatures import signature_submit

    alice_shop.name = "爱丽丝<小店>"  # markup in a cell
    alice_shop.save(update_fields=["name"])
    signature_submit(shop=alice_shop, text="爱丽丝服饰", by=alice)
    late = signature_submit(shop=bob_shop, text="鲍勃好物", by=bob)
    NeutralName.objects.create(term="好物", match="contains")  # a finding found in the queue
    Signature.objects.filter(pk=late.pk).update(due_at=late.submitted_at)  # overdue
    client.force_login(reviewer)
    url = reverse("admin:reviews_signature_changelist") + query
    client.get(url)  # findings stored back on the first view
    light = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", client.get(url).content.decode())
    monkeypatch.setattr(SignatureAdmin, "list_only", ())
    instances = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", client.get(url).content.decode())
    assert light.count('<tr><td class="action-checkbox">') == 2
    assert "爱丽丝&lt;小店&gt;" in light and "已超时" in light
    assert '<td class="field-findings_display"><strong class="review-alert">' in light  # the new finding
    assert light == instances
