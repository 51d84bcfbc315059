"""Seed the default frequency rule set (DOMAIN.md) and the opt-out keywords."""

from django.db import migrations

DEFAULT_RULESET = "默认规则"
# (rule id, scope, message class, window days, limit) exactly as DOMAIN.md lists them.
DEFAULT_RULES = [
    ("FREQ-PLATFORM-DAY", "platform", "marketing", 1, 3),
    ("FREQ-PLATFORM-2DAY", "platform", "marketing", 2, 5),
    ("FREQ-SHOP-2DAY", "shop", "marketing", 2, 1),
    ("FREQ-SHOP-NOTIFY-UNSUB-DAY", "shop", "notify_unsub", 1, 5),
    ("FREQ-SHOP-NOTIFY-DAY", "shop", "notify", 1, 2),
]
OPTOUT_KEYWORDS = ["R", "T", "TD", "N", "退订", "拒收"]


def seed(apps, schema_editor):
    RuleSet = apps.get_model("campaigns", "RuleSet")
    FrequencyRule = apps.get_model("campaigns", "FrequencyRule")
    OptOutKeyword = apps.get_model("campaigns", "OptOutKeyword")
    ruleset, created = RuleSet.objects.get_or_create(
        name=DEFAULT_RULESET,
        defaults={"is_default": True, "description": "DOMAIN.md 规定的默认频控上限"},
    )
    if created:
        for rule_id, scope, message_class, window_days, limit in DEFAULT_RULES:
            FrequencyRule.objects.create(
                ruleset=ruleset,
                rule_id=rule_id,
                scope=scope,
                message_class=message_class,
                window_days=window_days,
                limit=limit,
            )
    for keyword in OPTOUT_KEYWORDS:
        OptOutKeyword.objects.get_or_create(keyword=keyword)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_frequency")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
