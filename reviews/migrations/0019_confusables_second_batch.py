"""Evasions and clean words from the corpus's second batch, published as the next versions of the
confusables table and of the off-site list.

- Q扣/扣Q for QQ, 好pin for 好评, 国家极 for 国家级, 蕞 (shape) for 最, 官芳 for 官方, 公仲号 for
  公众号, 鑫 spellings of 微信 (威鑫 …), 销量第1 (第① after NFKC) for 销量第一;
- 小红薯 removed: it is a sweet potato (新鲜小红薯5斤装); only 在/去/上小红薯 and 小红薯种草/笔记/博主…
  read 小红书;
- QQ星 (a children's milk brand) and 快手小炒 are exceptions of the off-site list; B站/哔哩哔哩 are
  other platforms like 抖音 and 小红书 (terms).
"""

from django.db import migrations
from django.db.models import F
from django.utils import timezone

PAIRS = [
    ("q扣", "qq", "homophone"), ("扣q", "qq", "homophone"), ("好pin", "好评", "abbreviation"),
    ("国家极", "国家级", "homophone"), ("蕞", "最", "shape"), ("官芳", "官方", "homophone"),
    ("公仲号", "公众号", "homophone"), ("威鑫", "微信", "homophone"), ("薇鑫", "微信", "homophone"),
    ("微鑫", "微信", "homophone"), ("维鑫", "微信", "homophone"), ("销量第1", "销量第一", "shape"),
    ("亻言", "信", "shape"),  # 信 split into its two components
    # 小红薯 only where it is the app: 在/去/上小红薯, 小红薯种草/笔记/博主/账号/搜
    *[(f"{v}小红薯", f"{v}小红书", "homophone") for v in ("在", "去", "上", "逛")],
    *[(f"小红薯{v}", f"小红书{v}", "homophone") for v in ("种草", "笔记", "博主", "账号", "搜")],
]
OFFSITE_TERMS = ["b站", "哔哩哔哩"]
REMOVED = ["小红薯"]
OFFSITE_EXCEPTIONS = ["qq星", "快手小炒"]


def publish_table(apps, now) -> None:
    ConfusableTable = apps.get_model("reviews", "ConfusableTable")
    Confusable = apps.get_model("reviews", "Confusable")
    ConfusableRevision = apps.get_model("reviews", "ConfusableRevision")
    table = ConfusableTable.objects.filter(pk=1).first()
    if table is None:
        return
    added = [
        variant for variant, canonical, kind in PAIRS
        if Confusable.objects.get_or_create(
            table=table, variant=variant, defaults={"canonical": canonical, "kind": kind}
        )[1]
    ]
    removed, _kinds = Confusable.objects.filter(table=table, variant__in=REMOVED).delete()
    if not (added or removed):
        return
    rows = Confusable.objects.filter(table=table).order_by("canonical", "variant")
    ConfusableRevision.objects.create(
        table=table, version=table.version + 1, published_at=now,
        pairs=[[c.variant, c.canonical, c.kind] for c in rows],
    )
    ConfusableTable.objects.filter(pk=table.pk).update(version=F("version") + 1, updated_at=now)


def publish_offsite(apps, now) -> None:
    WordList = apps.get_model("reviews", "WordList")
    WordListException = apps.get_model("reviews", "WordListException")
    WordListRevision = apps.get_model("reviews", "WordListRevision")
    offsite = WordList.objects.filter(rule="TPL-OFFSITE").first()
    if offsite is None:
        return
    WordListTerm = apps.get_model("reviews", "WordListTerm")
    added = [
        phrase for phrase in OFFSITE_EXCEPTIONS
        if WordListException.objects.get_or_create(wordlist=offsite, phrase=phrase)[1]
    ] + [
        term for term in OFFSITE_TERMS
        if WordListTerm.objects.get_or_create(wordlist=offsite, term=term, defaults={"severity": "block"})[1]
    ]
    if not added:
        return
    WordListRevision.objects.create(
        wordlist=offsite, version=offsite.version + 1, published_at=now,
        terms=[[t.term, t.severity] for t in offsite.terms.order_by("term")],
        exceptions=[e.phrase for e in offsite.exceptions.order_by("phrase")],
    )
    WordList.objects.filter(pk=offsite.pk).update(version=F("version") + 1, updated_at=now)


def forward(apps, schema_editor):
    now = timezone.now()
    publish_table(apps, now)
    publish_offsite(apps, now)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0018_proposal_signature_rules")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
