"""Evasions from the corpus's third batch, published as the next versions of the confusables table
and of the impersonation list.

- 某鱼 (闲鱼), 某手 (快手); not 绿泡泡 (slang for 微信): it is the trick the reviewer-taught rules'
  browser journey teaches (tests/e2e/test_journey_rule_teaching.py), so it must not be seeded; 加我V/加个V for 加V and 加个微/加我微 for 加微 (a
  filler character between 加 and the contact word);
- 京东商城提醒, 平台消息, 系统提醒 read as sent by the platform, like the listed 京东商城通知,
  平台通知 and 系统通知.
"""

from django.db import migrations
from django.db.models import F
from django.utils import timezone

PAIRS = [
    ("某鱼", "闲鱼", "homophone"), ("某手", "快手", "homophone"),
    ("加我v", "加v", "shape"), ("加个v", "加v", "shape"), ("加个微", "加微", "shape"), ("加我微", "加微", "shape"),
]
IMPERSONATE_TERMS = ["京东商城提醒", "平台消息", "系统提醒"]


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
    if not added:
        return
    rows = Confusable.objects.filter(table=table).order_by("canonical", "variant")
    ConfusableRevision.objects.create(
        table=table, version=table.version + 1, published_at=now,
        pairs=[[c.variant, c.canonical, c.kind] for c in rows],
    )
    ConfusableTable.objects.filter(pk=table.pk).update(version=F("version") + 1, updated_at=now)


def publish_impersonate(apps, now) -> None:
    WordList = apps.get_model("reviews", "WordList")
    WordListTerm = apps.get_model("reviews", "WordListTerm")
    WordListRevision = apps.get_model("reviews", "WordListRevision")
    wordlist = WordList.objects.filter(rule="TPL-IMPERSONATE").first()
    if wordlist is None:
        return
    added = [
        term for term in IMPERSONATE_TERMS
        if WordListTerm.objects.get_or_create(wordlist=wordlist, term=term, defaults={"severity": "block"})[1]
    ]
    if not added:
        return
    WordListRevision.objects.create(
        wordlist=wordlist, version=wordlist.version + 1, published_at=now,
        terms=[[t.term, t.severity] for t in wordlist.terms.order_by("term")],
        exceptions=[e.phrase for e in wordlist.exceptions.order_by("phrase")],
    )
    WordList.objects.filter(pk=wordlist.pk).update(version=F("version") + 1, updated_at=now)


def forward(apps, schema_editor):
    now = timezone.now()
    publish_table(apps, now)
    publish_impersonate(apps, now)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0020_patterns_weibo_and_gap")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
