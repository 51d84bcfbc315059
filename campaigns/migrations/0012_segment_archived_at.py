from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0011_plan_batches"),
    ]

    operations = [
        migrations.AddField(
            model_name="segment",
            name="archived_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="删除时间"),
        ),
    ]
