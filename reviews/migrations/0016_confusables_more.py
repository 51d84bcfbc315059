"""More evasions seen in the labelled corpus (tests/reviews/corpus), published as the next version
of the confusables table; QQ弹 (the texture word, "Q弹") allowed in the off-site list.

- 某宝/某音/某猫/某多多/某红书/某东: the "某X" euphemisms for marketplaces and the platform;
- 鼎级 for 顶级, 京冬 for 京东 (homophones); 亰 for 京 and 寳 for 宝 (shape/variant characters);
- hp for 好评 only before 返/有礼 or after 五星 (HP打印机 stays a printer);
- traditional 驗證務溫紀 (驗證碼 is the neutral 验证码);
- 好苹, 好平, 微心, 加裙, 裙号 removed: 好苹果, 平底锅, 微心愿, 衬衫加裙子 are clean texts;
- 围脖 (a scarf, also slang for 微博) is *not* a variant: scarf sellers would be flagged. The
  off-site pattern (关注 + …) is where 关注我们的围脖 belongs.
"""

from django.db import migrations
from django.db.models import F
from django.utils import timezone

PAIRS = [
    ("某宝", "淘宝", "homophone"), ("某音", "抖音", "homophone"), ("某猫", "天猫", "homophone"),
    ("某多多", "拼多多", "homophone"), ("某红书", "小红书", "homophone"), ("某东", "京东", "homophone"),
    ("鼎级", "顶级", "homophone"), ("京冬", "京东", "homophone"),
    ("亰", "京", "shape"), ("寳", "宝", "traditional"),
    ("好平返", "好评返", "homophone"), ("好平有礼", "好评有礼", "homophone"),
    ("hp返", "好评返", "abbreviation"), ("hp有礼", "好评有礼", "abbreviation"), ("五星hp", "五星好评", "abbreviation"),
    ("驗", "验", "traditional"), ("證", "证", "traditional"), ("務", "务", "traditional"),
    ("溫", "温", "traditional"), ("紀", "纪", "traditional"),
]
# Seeded in 0015 but real words in clean texts (the corpus's traps): 好苹果, 好平底锅, 微心愿,
# 衬衫加裙子, 裙号 (a skirt's size).
REMOVED = ["好苹", "好平", "微心", "加裙", "裙号"]
OFFSITE_EXCEPTIONS = ["qq弹", "qq弹弹"]


def forward(apps, schema_editor):
    ConfusableTable = apps.get_model("reviews", "ConfusableTable")
    Confusable = apps.get_model("reviews", "Confusable")
    ConfusableRevision = apps.get_model("reviews", "ConfusableRevision")
    WordList = apps.get_model("reviews", "WordList")
    WordListException = apps.get_model("reviews", "WordListException")
    WordListRevision = apps.get_model("reviews", "WordListRevision")
    now = timezone.now()

    table = ConfusableTable.objects.filter(pk=1).first()
    if table is not None:
        added = [
            variant for variant, canonical, kind in PAIRS
            if Confusable.objects.get_or_create(
                table=table, variant=variant, defaults={"canonical": canonical, "kind": kind}
            )[1]
        ]
        removed, _kinds = Confusable.objects.filter(table=table, variant__in=REMOVED).delete()
        if added or removed:
            rows = Confusable.objects.filter(table=table).order_by("canonical", "variant")
            ConfusableRevision.objects.create(
                table=table, version=table.version + 1, published_at=now,
                pairs=[[c.variant, c.canonical, c.kind] for c in rows],
            )
            ConfusableTable.objects.filter(pk=table.pk).update(version=F("version") + 1, updated_at=now)

    offsite = WordList.objects.filter(rule="TPL-OFFSITE").first()
    if offsite is None:
        return
    added = [
        phrase for phrase in OFFSITE_EXCEPTIONS
        if WordListException.objects.get_or_create(wordlist=offsite, phrase=phrase)[1]
    ]
    if added:
        WordListRevision.objects.create(
            wordlist=offsite, version=offsite.version + 1, published_at=now,
            terms=[[t.term, t.severity] for t in offsite.terms.order_by("term")],
            exceptions=[e.phrase for e in offsite.exceptions.order_by("phrase")],
        )
        WordList.objects.filter(pk=offsite.pk).update(version=F("version") + 1, updated_at=now)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0015_seed_confusables")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
