from django.db import migrations

RESTRICTED = ["计生情趣", "医药", "教育培训", "农药", "兽药"]
ORDINARY = ["服饰内衣", "食品饮料", "家用电器", "数码", "美妆护肤", "母婴", "家居日用", "运动户外"]


def seed(apps, schema_editor):
    Category = apps.get_model("smsmarketing", "Category")
    for name in RESTRICTED:
        Category.objects.update_or_create(name=name, defaults={"restricted": True})
    for name in ORDINARY:
        Category.objects.get_or_create(name=name, defaults={"restricted": False})
    Group = apps.get_model("auth", "Group")
    Group.objects.get_or_create(name="reviewers")


class Migration(migrations.Migration):
    dependencies = [
        ("smsmarketing", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
