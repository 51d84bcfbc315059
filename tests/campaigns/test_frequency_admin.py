"""Reviewers edit frequency rules and promotion periods in the admin; every rule edit is a new version."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import FrequencyRule, OptOut, PromotionPeriod, RuleSet
from campaigns.services.optouts import optout_record

pytestmark = pytest.mark.django_db


def ruleset_post_data(ruleset: RuleSet, **limits: int) -> dict:
    rules = list(ruleset.rules.order_by("id"))
    data = {
        "name": ruleset.name,
        "is_default": "on" if ruleset.is_default else "",
        "description": ruleset.description,
        "rules-TOTAL_FORMS": str(len(rules)),
        "rules-INITIAL_FORMS": str(len(rules)),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }
    for i, rule in enumerate(rules):
        data.update(
            {
                f"rules-{i}-id": str(rule.pk),
                f"rules-{i}-ruleset": str(ruleset.pk),
                f"rules-{i}-rule_id": rule.rule_id,
                f"rules-{i}-scope": rule.scope,
                f"rules-{i}-message_class": rule.message_class,
                f"rules-{i}-window_days": str(rule.window_days),
                f"rules-{i}-limit": str(limits.get(rule.rule_id.replace("-", "_"), rule.limit)),
            }
        )
    return data


def test_it_raises_the_version_when_a_reviewer_changes_a_limit(client, reviewer):
    ruleset = RuleSet.objects.get(is_default=True)
    client.force_login(reviewer)
    url = reverse("admin:campaigns_ruleset_change", args=[ruleset.pk])
    assert client.get(url).status_code == 200

    response = client.post(url, ruleset_post_data(ruleset, FREQ_SHOP_2DAY=2))
    assert response.status_code == 302, response.content.decode()[:2000]
    ruleset.refresh_from_db()
    assert FrequencyRule.objects.get(ruleset=ruleset, rule_id="FREQ-SHOP-2DAY").limit == 2
    assert ruleset.version == 2

    # Saving without changing any rule keeps the version.
    client.post(url, ruleset_post_data(ruleset))
    ruleset.refresh_from_db()
    assert ruleset.version == 2


def test_it_refuses_a_window_other_than_one_or_two_days(client, reviewer):
    ruleset = RuleSet.objects.get(is_default=True)
    client.force_login(reviewer)
    data = ruleset_post_data(ruleset)
    data["rules-0-window_days"] = "3"
    response = client.post(reverse("admin:campaigns_ruleset_change", args=[ruleset.pk]), data)
    assert response.status_code == 200  # the form again, with the error
    assert not FrequencyRule.objects.filter(window_days=3).exists()
    ruleset.refresh_from_db()
    assert ruleset.version == 1


def test_it_never_lets_the_default_rule_set_be_deleted(client, reviewer, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", password="pass-for-tests")
    client.force_login(admin_user)
    ruleset = RuleSet.objects.get(is_default=True)
    response = client.post(reverse("admin:campaigns_ruleset_delete", args=[ruleset.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert RuleSet.objects.filter(pk=ruleset.pk).exists()


def test_it_lets_a_reviewer_add_a_promotion_period_but_not_an_overlapping_one(client, reviewer):
    ruleset = RuleSet.objects.get(is_default=True)
    client.force_login(reviewer)
    url = reverse("admin:campaigns_promotionperiod_add")
    data = {"name": "双11", "start_date": "2026-11-01", "end_date": "2026-11-11", "ruleset": ruleset.pk}
    assert client.post(url, data).status_code == 302
    overlapping = {
        "name": "双12",
        "start_date": "2026-11-11",
        "end_date": "2026-12-12",
        "ruleset": ruleset.pk,
    }
    response = client.post(url, overlapping)
    assert response.status_code == 200
    assert "与已有的大促期间日期重叠" in response.content.decode()
    assert list(PromotionPeriod.objects.values_list("name", flat=True)) == ["双11"]


def test_it_shows_opt_outs_to_reviewers_read_only(client, reviewer, alice_shop):
    optout_record(shop_id=alice_shop.pk, phone="13800138000", keyword="R", source="sms_reply")
    optout = OptOut.objects.get()
    client.force_login(reviewer)
    assert client.get(reverse("admin:campaigns_optout_changelist")).status_code == 200
    assert (
        client.post(reverse("admin:campaigns_optout_delete", args=[optout.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert OptOut.objects.exists()
