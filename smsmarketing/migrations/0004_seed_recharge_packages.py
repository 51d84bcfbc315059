from decimal import Decimal

from django.db import migrations

# The packages of the benefits centre (权益中心) at launch; operators edit them in the admin.
PACKAGES = [
    ("1,000 条", 1_000, Decimal("50.00"), 10),
    ("10,000 条", 10_000, Decimal("450.00"), 20),
    ("100,000 条", 100_000, Decimal("4000.00"), 30),
]


def seed(apps, schema_editor):
    RechargePackage = apps.get_model("smsmarketing", "RechargePackage")
    for name, units, price, sort_order in PACKAGES:
        if not RechargePackage.objects.filter(units=units, price=price).exists():
            RechargePackage.objects.create(name=name, units=units, price=price, sort_order=sort_order)


class Migration(migrations.Migration):
    dependencies = [("smsmarketing", "0003_sms_account")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
