"""The example of the shop-name variable was a real demo shop's name (爱丽丝服饰旗舰店), shown to
every merchant in previews and the variable picker: make it neutral. A changed example is kept."""

from django.db import migrations

OLD, NEW = "爱丽丝服饰旗舰店", "您的店铺"


def forward(apps, schema_editor):
    TemplateVariable = apps.get_model("reviews", "TemplateVariable")
    TemplateVariable.objects.filter(name="shop_name", example=OLD).update(example=NEW)


def backward(apps, schema_editor):
    TemplateVariable = apps.get_model("reviews", "TemplateVariable")
    TemplateVariable.objects.filter(name="shop_name", example=NEW).update(example=OLD)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0010_refresh_findings_schedule")]

    operations = [migrations.RunPython(forward, backward)]
