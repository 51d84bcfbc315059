from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0012_segment_archived_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaignrun",
            name="signature",
            field=models.CharField(blank=True, default="", max_length=32, verbose_name="发送签名"),
        ),
    ]
