"""Writing campaigns: a draft edited, any campaign copied, the repurchase form's one content
source, the coupon form's choices, the 短信营销 editor's live check."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Campaign, Segment
from campaigns.services.audience import segment_save
from campaigns.services.campaigns import CampaignInvalid, CampaignStateError, campaign_create, campaign_update
from reviews.services.templates import template_submit
from tests.campaigns.campaign_fixtures import MARKETING_TEXT
from tests.factories import (
    COUPON_TEMPLATE_TEXT,
    PASSWORD,
    make_approved_template,
    make_coupon,
    official_template,
)


def login(client, user):
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)


def draft(shop, user, **kwargs) -> Campaign:
    fields = {"kind": "marketing", "name": "上新", "text": MARKETING_TEXT, **kwargs}
    return campaign_create(shop=shop, user=user, **fields)


def options(html: str, select_id: str) -> list[str]:
    """The <option> tags of one select, as rendered."""
    select = html.split(f'id="{select_id}"')[1].split("</select>")[0]
    return re.findall(r"<option[^>]*>[^<]*</option>", select)


def test_it_edits_a_draft_and_keeps_it_a_draft(client, alice, ready_shop):
    campaign = draft(ready_shop, alice)
    vip = segment_save(shop=ready_shop, user=alice, name="VIP", tags_any=["VIP"])
    login(client, alice)
    url = reverse("campaigns:edit", args=[ready_shop.pk, campaign.pk])
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and 'value="上新"' in html and MARKETING_TEXT in html
    saved = client.post(
        url, {"name": "上新（改）", "segment": vip.pk, "text": "秋季新品上架，欢迎进店选购。"}
    )
    assert saved.status_code == 302 and saved["Location"].endswith(f"/campaigns/{campaign.pk}/")
    campaign.refresh_from_db()
    assert (campaign.name, campaign.segment_id, campaign.text, campaign.status) == (
        "上新（改）",
        vip.pk,
        "秋季新品上架，欢迎进店选购。",
        "draft",
    )
    assert Campaign.objects.filter(shop=ready_shop).count() == 1


def test_it_refuses_to_edit_a_campaign_that_left_the_draft_state(client, alice, ready_shop):
    campaign = draft(ready_shop, alice)
    Campaign.objects.filter(pk=campaign.pk).update(status="scheduled")
    login(client, alice)
    url = reverse("campaigns:edit", args=[ready_shop.pk, campaign.pk])
    for send in (lambda: client.get(url), lambda: client.post(url, {"name": "改", "text": MARKETING_TEXT})):
        response = send()
        assert response.status_code == 302
        page = client.get(response["Location"])
        assert "只有草稿可以修改" in page.content.decode()
    campaign.refresh_from_db()
    assert campaign.name == "上新"
    with pytest.raises(CampaignStateError):
        campaign_update(campaign=campaign, user=alice, name="改", text=MARKETING_TEXT)
    campaign.refresh_from_db()
    assert campaign.name == "上新"


def test_it_shows_edit_only_for_a_draft_and_copy_for_every_campaign(client, alice, ready_shop):
    editable, sent = draft(ready_shop, alice), draft(ready_shop, alice, name="已发")
    Campaign.objects.filter(pk=sent.pk).update(status="completed")
    login(client, alice)
    html = client.get(reverse("campaigns:detail", args=[ready_shop.pk, editable.pk])).content.decode()
    assert 'id="edit-campaign"' in html and 'id="copy-campaign"' in html
    html = client.get(reverse("campaigns:detail", args=[ready_shop.pk, sent.pk])).content.decode()
    assert 'id="edit-campaign"' not in html and 'id="copy-campaign"' in html


def test_it_copies_a_finished_coupon_campaign_into_a_new_draft(client, alice, ready_shop):
    coupon = make_coupon(ready_shop, user=alice)
    vip = segment_save(shop=ready_shop, user=alice, name="VIP", tags_any=["VIP"])
    source = campaign_create(
        shop=ready_shop, user=alice, kind="coupon", name="会员日", segment=vip,
        template=official_template(), coupon=coupon,
    )  # fmt: skip
    Campaign.objects.filter(pk=source.pk).update(status="completed")
    login(client, alice)
    url = reverse("campaigns:copy", args=[ready_shop.pk, source.pk])
    html = client.get(url).content.decode()
    assert 'value="会员日（副本）"' in html
    assert f'<option value="{vip.pk}" selected>' in html
    assert f'<option value="{official_template().pk}" selected>' in html
    assert f'<option value="{coupon.pk}" selected>' in html
    assert not Campaign.objects.exclude(pk=source.pk).exists()  # nothing saved by a GET
    created = client.post(
        url,
        {
            "name": "会员日（副本）",
            "segment": vip.pk,
            "template": official_template().pk,
            "coupon": coupon.pk,
        },
    )
    copy = Campaign.objects.exclude(pk=source.pk).get()
    assert created.status_code == 302 and created["Location"].endswith(f"/campaigns/{copy.pk}/")
    assert (copy.kind, copy.status, copy.segment_id, copy.template_id, copy.coupon_id) == (
        "coupon",
        "draft",
        vip.pk,
        official_template().pk,
        coupon.pk,
    )
    source.refresh_from_db()
    assert (source.name, source.status) == ("会员日", "completed")


def test_it_copies_a_campaign_whose_segment_was_deleted_since_without_widening_it(client, alice, ready_shop):
    vip = segment_save(shop=ready_shop, user=alice, name="VIP", tags_any=["VIP"])
    source = draft(ready_shop, alice, segment=vip)
    Campaign.objects.filter(pk=source.pk).update(status="completed")
    Segment.objects.filter(pk=vip.pk).update(archived_at="2026-01-01T00:00:00Z")
    login(client, alice)
    html = client.get(reverse("campaigns:copy", args=[ready_shop.pk, source.pk])).content.decode()
    assert f'<option value="{vip.pk}" selected>' in html


def test_it_refuses_a_repurchase_reminder_with_both_a_template_and_typed_text(client, alice, ready_shop):
    template = official_template(use="repurchase")
    login(client, alice)
    page = client.post(
        reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=repurchase",
        {"name": "复购", "template": template.pk, "text": "您买的T恤该补货啦，欢迎回店选购。",
         "products": "T恤", "days_since_purchase": 30},
    )  # fmt: skip
    html = page.content.decode()
    assert page.status_code == 400 and "不能同时填写短信内容" in html
    assert "您买的T恤该补货啦" in html  # the typed text is kept, not dropped
    assert not Campaign.objects.exists()
    with pytest.raises(CampaignInvalid, match="不能同时填写短信内容"):
        campaign_create(
            shop=ready_shop, user=alice, kind="repurchase", name="复购", template=template,
            text="您买的T恤该补货啦，欢迎回店选购。", products=["T恤"], days_since_purchase=30,
        )  # fmt: skip
    assert not Campaign.objects.exists()


def test_it_offers_coupon_campaigns_only_real_choices(client, alice, ready_shop):
    own = make_approved_template(ready_shop, name="自家券")
    pending = template_submit(
        shop=ready_shop, by=alice, name="待审券", use="coupon", message_class="marketing",
        text=COUPON_TEMPLATE_TEXT,
    )  # fmt: skip
    coupon = make_coupon(ready_shop, user=alice, name="夏日券")
    expired = make_coupon(ready_shop, user=alice, name="过期券")
    type(expired).objects.filter(pk=expired.pk).update(
        valid_from="2020-01-01T00:00:00Z", valid_until="2020-01-02T00:00:00Z"
    )
    login(client, alice)
    html = client.get(reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=coupon").content.decode()
    templates = options(html, "id_template")
    assert "---------" not in html and "不使用模板" not in html
    assert templates[0] == '<option value="" disabled selected>请选择模板</option>'
    assert f'<option value="{own.pk}">自定义｜自家券</option>' in templates
    assert f'<option value="{official_template().pk}">官方｜{official_template().name}</option>' in templates
    assert f'<option value="{pending.pk}" disabled>审核中｜待审券</option>' in templates
    assert '<optgroup label="审核中（审核通过后可选）">' in html and '<optgroup label="官方模板">' in html
    coupons = options(html, "id_coupon")
    assert coupons[0] == '<option value="" disabled selected>请选择优惠券</option>'
    assert len(coupons) == 2 and "夏日券" in coupons[1] and "过期券" not in html
    # 使用 on the templates page preselects the template (and links here with it).
    templates_page = client.get(reverse("reviews:templates", args=[ready_shop.pk])).content.decode()
    assert f"?kind=coupon&amp;template={official_template().pk}" in templates_page
    html = client.get(
        reverse("campaigns:new", args=[ready_shop.pk]) + f"?kind=coupon&template={own.pk}&coupon={coupon.pk}"
    ).content.decode()
    assert f'<option value="{own.pk}" selected>自定义｜自家券</option>' in html
    assert f'<option value="{coupon.pk}" selected>' in html
    html = client.get(
        reverse("campaigns:new", args=[ready_shop.pk]) + f"?kind=coupon&template={pending.pk}"
    ).content.decode()
    assert "所选模板正在审核中" in html
    # Submitting without a choice names what is missing, in Chinese.
    page = client.post(reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=coupon", {"name": "x"})
    assert page.status_code == 400 and "请选择模板。" in page.content.decode()
    assert "请选择优惠券。" in page.content.decode()
    assert not Campaign.objects.exists()


def test_it_checks_the_marketing_text_with_the_template_editors_check(client, alice, ready_shop):
    login(client, alice)
    html = client.get(reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=marketing").content.decode()
    check_url = reverse("reviews:template_check", args=[ready_shop.pk])
    assert f'hx-post="{check_url}"' in html and 'id="template-check"' in html
    assert 'id="submit-template"' not in html and 'id="save-campaign"' in html
    panel = client.post(
        check_url,
        {
            "text": "全网最低价,快来抢购",
            "use": "marketing",
            "message_class": "marketing",
            "purpose": "campaign",
        },
    ).content.decode()
    assert "TPL-ADLAW" in panel and "TPL-PUNCT" in panel and "【爱丽丝服饰】全网最低价" in panel
    assert 'id="msg-parts"' in panel and 'id="submit-template"' not in panel
    # A refused save shows the findings beside the text (rule id, message, hint), not a paragraph.
    page = client.post(
        reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=marketing",
        {"name": "x", "text": "全网最低价，快来抢购吧"},
    )
    html = page.content.decode()
    assert page.status_code == 400 and 'data-rule="TPL-ADLAW"' in html and "全网最低价，快来抢购吧" in html
    assert "短信内容未通过检查，请按“内容检查”" in html and not Campaign.objects.exists()


def test_it_reads_the_same_number_of_queries_for_the_edit_page_with_few_and_many_choices(
    client, alice, ready_shop
):
    campaign = campaign_create(
        shop=ready_shop, user=alice, kind="coupon", name="券", template=official_template(),
        coupon=make_coupon(ready_shop, user=alice),
    )  # fmt: skip
    login(client, alice)
    url = reverse("campaigns:edit", args=[ready_shop.pk, campaign.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = queries()
    for i in range(25):
        segment_save(shop=ready_shop, user=alice, name=f"人群{i}", tags_any=[f"t{i}"])
        make_coupon(ready_shop, user=alice, name=f"券{i}")
        make_approved_template(ready_shop, name=f"模板{i}")
    assert queries() == few
