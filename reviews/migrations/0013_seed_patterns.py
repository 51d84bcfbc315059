"""Seed the pattern rules (published as version 1): review bribes described without a listed
word, and invitations to follow or add an account off the platform. Reviewers tune them in the
admin (组合规则); their examples and counter-examples are checked on every publish."""

from django.db import migrations

PATTERNS = [
    {
        "rule": "TPL-REVIEW-BAIT",
        "name": "评价换返利",
        "first_terms": ["好评", "五星", "5星", "晒图", "晒单", "追评", "评价", "评论", "打分", "点评"],
        "second_terms": [
            "返现",
            "返",
            "红包",
            "现金",
            "礼品",
            "礼物",
            "小礼",
            "有礼",
            "赠",
            "送",
            "奖励",
            "福利",
            "领取",
            "优惠券",
            "免单",
            "立减",
            "抵扣",
        ],
        "max_gap": 6,
        "ordered": False,
        "exceptions": [
            "好评如潮",
            "好评率",
            "好评榜",
            "好评不断",
            "累计好评",
            "万人好评",
            "五星级",
            "5星级",
            "五星红旗",
            "配送",
            "送达",
            "送货",
            "送到",
            "运送",
            "护送",
            "返回",
            "往返",
            "返校",
            "返场",
            "返程",
            "返乡",
        ],
        "severity": "block",
        "message": "“{term}”以返现、红包或礼品换取评价，属于诱导好评。",
        "hint": "请删除以评价、晒图换取返现或礼品的内容，平台禁止诱导评价。",
        "examples": [
            "收货后给个五星，找客服领红包",
            "晒图就送精美小礼品",
            "追评满15字返3元",
            "亲，评价后私聊拿现金",
            "五 星 评 价 截图找客服返5元",
        ],
        "counter_examples": [
            "好评如潮的爆款，下单送运费险",
            "五星级酒店同款床品，买二送一",
            "评价有问题请联系在线客服",
            "已发货，预计明天送达，期待您的评价",
            "累计好评10万，满199减30",
        ],
    },
    {
        "rule": "TPL-OFFSITE",
        "name": "关注或添加站外账号",
        "first_terms": ["关注", "搜索", "添加", "扫码", "扫一扫", "长按识别", "私信"],
        "second_terms": [
            "公众号",
            "服务号",
            "订阅号",
            "视频号",
            "抖音号",
            "快手号",
            "小红书号",
            "官方号",
            "个人号",
            "同名号",
            "企业号",
            "专属客服",
            "私人客服",
            "客服号",
            "好友",
        ],
        "max_gap": 6,
        "ordered": True,
        "exceptions": [],
        "severity": "block",
        "message": "“{term}”引导用户关注或添加站外账号。",
        "hint": "请删除站外账号的引导，请用户关注店铺、在店铺内咨询。",
        "examples": ["关注我们的同名号领福利", "扫码添加专属客服，享受一对一服务", "搜索店铺名视频号看直播"],
        "counter_examples": ["关注店铺领取20元优惠券", "添加到购物车，下单更方便", "邀请好友下单各得5元"],
    },
]


def seed(apps, schema_editor):
    ContentPattern = apps.get_model("reviews", "ContentPattern")
    PatternRevision = apps.get_model("reviews", "PatternRevision")
    for data in PATTERNS:
        if ContentPattern.objects.filter(name=data["name"]).exists():
            continue
        pattern = ContentPattern.objects.create(
            rule=data["rule"],
            name=data["name"],
            first_terms="\n".join(data["first_terms"]),
            second_terms="\n".join(data["second_terms"]),
            max_gap=data["max_gap"],
            ordered=data["ordered"],
            exceptions="\n".join(data["exceptions"]),
            severity=data["severity"],
            message=data["message"],
            hint=data["hint"],
            examples="\n".join(data["examples"]),
            counter_examples="\n".join(data["counter_examples"]),
            version=1,
        )
        definition = {
            k: data[k]
            for k in (
                "rule",
                "name",
                "first_terms",
                "second_terms",
                "max_gap",
                "ordered",
                "exceptions",
                "severity",
                "message",
                "hint",
            )
        }
        PatternRevision.objects.create(pattern=pattern, version=1, definition={**definition, "active": True})


class Migration(migrations.Migration):
    dependencies = [("reviews", "0012_content_patterns")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
