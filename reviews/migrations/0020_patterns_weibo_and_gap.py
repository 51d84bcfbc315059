"""Pattern rules from the labelled corpus: 关注 … 围脖 (slang for 微博; 围脖 alone is a scarf, so it is
not a confusable), and the off-site account pattern's gap narrowed to 4 with 添加到购物车 and the
like as exceptions (把商品添加到购物车，和好友一起拼单 is clean). Each change is published as the
pattern's next version; a pattern a reviewer has already changed (not at version 1) is left alone."""

from django.db import migrations

OFFSITE_NAME = "关注或添加站外账号"
CART = ["添加到购物车", "加入购物车", "加购物车", "添加购物车"]

WEIBO = {
    "rule": "TPL-OFFSITE",
    "name": "关注围脖",
    "first_terms": ["关注"],
    "second_terms": ["围脖"],
    "max_gap": 4,
    "ordered": True,
    "exceptions": ["关注店铺"],
    "severity": "block",
    "message": "“{term}”引导用户关注站外账号（围脖即微博）。",
    "hint": "请删除站外账号的引导，请用户关注店铺、在店铺内咨询。",
    "examples": ["关注我们的围脖，每周抽奖送好礼"],
    "counter_examples": ["关注店铺，围脖新品上市", "纯羊绒围脖，关注店铺享九折"],
}


def forward(apps, schema_editor):
    ContentPattern = apps.get_model("reviews", "ContentPattern")
    PatternRevision = apps.get_model("reviews", "PatternRevision")
    offsite = ContentPattern.objects.filter(name=OFFSITE_NAME, version=1).first()
    if offsite is not None:
        latest = PatternRevision.objects.get(pattern=offsite, version=1)
        exceptions = [line for line in offsite.exceptions.splitlines() if line.strip()]
        exceptions += [phrase for phrase in CART if phrase not in exceptions]
        offsite.exceptions = "\n".join(exceptions)
        offsite.max_gap = 4
        offsite.counter_examples += "\n把商品添加到购物车，和好友一起拼单更优惠"
        offsite.version = 2
        offsite.save()
        definition = {**latest.definition, "max_gap": 4, "exceptions": exceptions}
        PatternRevision.objects.create(pattern=offsite, version=2, definition=definition)
    if not ContentPattern.objects.filter(name=WEIBO["name"]).exists():
        pattern = ContentPattern.objects.create(
            rule=WEIBO["rule"], name=WEIBO["name"], first_terms="\n".join(WEIBO["first_terms"]),
            second_terms="\n".join(WEIBO["second_terms"]), max_gap=WEIBO["max_gap"], ordered=WEIBO["ordered"],
            exceptions="\n".join(WEIBO["exceptions"]), severity=WEIBO["severity"], message=WEIBO["message"],
            hint=WEIBO["hint"], examples="\n".join(WEIBO["examples"]),
            counter_examples="\n".join(WEIBO["counter_examples"]), version=1,
        )
        definition = {k: WEIBO[k] for k in (
            "rule", "name", "first_terms", "second_terms", "max_gap", "ordered", "exceptions", "severity",
            "message", "hint",
        )}
        PatternRevision.objects.create(pattern=pattern, version=1, definition={**definition, "active": True})


class Migration(migrations.Migration):
    dependencies = [("reviews", "0019_confusables_second_batch")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
