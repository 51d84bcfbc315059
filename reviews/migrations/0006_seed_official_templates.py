"""Seed the platform's official templates (approved at once, no review)."""

from django.db import migrations
from django.utils import timezone

OFFICIAL = [
    # name, use, text
    ("优惠券到账提醒", "coupon",
     "亲爱的会员，${shop_name}送您一张${coupon_amount}优惠券，${coupon_threshold}，"
     "有效期至${coupon_expiry}，点击${coupon_link}领取使用。"),
    ("优惠券即将过期", "coupon",
     "您在${shop_name}领取的${coupon_amount}优惠券将于${coupon_expiry}过期，${coupon_threshold}，"
     "别错过哦，立即使用：${coupon_link}"),
    ("会员专享优惠券", "coupon",
     "感谢您一直以来对${shop_name}的支持，特为您准备了${coupon_amount}会员专享券，${coupon_threshold}，"
     "戳${coupon_link}领取。"),
    ("复购提醒", "repurchase",
     "您好，您上次在${shop_name}购买的${product_name}快用完了吧？回店看看新品与优惠：${shop_link}"),
    ("回购关怀", "repurchase",
     "${shop_name}提醒您：您常买的${product_name}已补货，欢迎再次选购，店铺地址：${shop_link}"),
]


def seed(apps, schema_editor):
    MessageTemplate = apps.get_model("reviews", "MessageTemplate")
    now = timezone.now()
    for name, use, text in OFFICIAL:
        if MessageTemplate.objects.filter(origin="official", name=name).exists():
            continue
        MessageTemplate.objects.create(
            origin="official", shop=None, name=name, use=use, message_class="marketing", text=text,
            state="approved", submitted_at=now, due_at=now, decided_at=now,
        )


class Migration(migrations.Migration):
    dependencies = [("reviews", "0005_message_templates")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
