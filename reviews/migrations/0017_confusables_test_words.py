"""A row kept as written needs no canonical spelling (blank allowed; the model fills it in), and
the traditional forms of 测试 (測試) join the table, published as its next version."""

from django.db import migrations, models
from django.db.models import F
from django.utils import timezone

PAIRS = [("測", "测", "traditional"), ("試", "试", "traditional")]


def forward(apps, schema_editor):
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
    now = timezone.now()
    rows = Confusable.objects.filter(table=table).order_by("canonical", "variant")
    ConfusableRevision.objects.create(
        table=table, version=table.version + 1, published_at=now,
        pairs=[[c.variant, c.canonical, c.kind] for c in rows],
    )
    ConfusableTable.objects.filter(pk=table.pk).update(version=F("version") + 1, updated_at=now)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0016_confusables_more")]

    operations = [
        migrations.AlterField(
            model_name="confusable",
            name="canonical",
            field=models.CharField(
                blank=True, help_text="词库中使用的写法，如“微信”“qq”；类型为“保持原样”时可留空。", max_length=32,
                verbose_name="对应的词",
            ),
        ),
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
