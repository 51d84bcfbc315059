"""Seed the pattern rules (published as version 1): review bribes described without a listed
word, invitations to follow or add an account off the platform, searches on other platforms and
payments outside the platform. Reviewers tune them in the
admin (组合规则); their examples and counter-examples are checked on every publish."""

from django.db import migrations

# Words that contain 加 without meaning "add someone" (the offsite pattern's 加 … 好友).
ADD_EXCEPTIONS = [
    "叠加", "加入", "增加", "参加", "追加", "加购", "加量", "加价", "加赠", "更加", "加油", "加热", "加绒", "加厚",
    "加长", "加大", "加倍", "加送", "加急", "加工", "附加", "外加", "加盟",
]

PATTERNS = [
    {
        "rule": "TPL-REVIEW-BAIT",
        "name": "评价换返利",
        "first_terms": [
            "好评", "五星", "5星", "五颗星", "5颗星", "满星", "晒图", "晒单", "晒出", "买家秀", "追评", "评价", "评论",
            "打分", "点评",
        ],
        "second_terms": [
            "返现", "返", "红包", "现金", "礼品", "礼物", "小礼", "有礼", "赠", "送", "奖励", "福利", "领取", "立得",
            "优惠券", "免单", "立减", "抵扣",
        ],
        "max_gap": 10,
        "ordered": False,
        "exceptions": [
            "好评如潮", "好评率", "好评榜", "好评不断", "累计好评", "万人好评", "五星级", "5星级", "五星红旗",
            "配送", "送达", "送货", "送到", "运送", "护送", "返回", "往返", "返校", "返场", "返程", "返乡",
        ],
        "severity": "block",
        "message": "“{term}”以返现、红包或礼品换取评价，属于诱导好评。",
        "hint": "请删除以评价、晒图换取返现或礼品的内容，平台禁止诱导评价。",
        "examples": [
            "收货后给个五星，找客服领红包", "晒图就送精美小礼品", "追评满15字返3元", "亲，评价后私聊拿现金",
            "五 星 评 价 截图找客服返5元", "评价满30字加3张图，送运费险一份", "收货后点亮五颗星，下次购物立减10元",
        ],
        "counter_examples": [
            "好评如潮的爆款，下单送运费险", "五星级酒店同款床品，买二送一", "评价有问题请联系在线客服",
            "已发货，预计明天送达，期待您的评价", "累计好评10万，满199减30",
        ],
    },
    {
        "rule": "TPL-OFFSITE",
        "name": "关注或添加站外账号",
        "first_terms": ["关注", "搜索", "添加", "加", "扫码", "扫码进", "扫一扫", "长按识别", "私信"],
        "second_terms": [
            "公众号", "公号", "服务号", "订阅号", "视频号", "抖音号", "快手号", "小红书号", "红书", "官方号", "个人号",
            "同名号", "企业号", "专属客服", "私人客服", "客服号", "专属顾问", "顾问", "好友", "福利社", "粉丝团",
            "社群", "会员群",
        ],
        "max_gap": 6,
        "ordered": True,
        "exceptions": ADD_EXCEPTIONS,
        "severity": "block",
        "message": "“{term}”引导用户关注或添加站外账号。",
        "hint": "请删除站外账号的引导，请用户关注店铺、在店铺内咨询。",
        "examples": [
            "关注我们的同名号领福利", "扫码添加专属客服，享受一对一服务", "搜索店铺名视频号看直播", "下单后加店长好友",
            "扫码进福利社，每天发红包",
        ],
        "counter_examples": [
            "关注店铺领取20元优惠券", "添加到购物车，下单更方便", "邀请好友下单各得5元", "满减叠加，好友同享",
        ],
    },
    {
        "rule": "TPL-OFFSITE",
        "name": "站外平台搜索",
        "first_terms": ["b站", "哔哩哔哩", "视频号", "红书", "公号", "微博", "抖音", "快手", "小红书"],
        "second_terms": ["搜索", "搜", "关注", "私信"],
        "max_gap": 2,
        "ordered": True,
        "exceptions": [],
        "severity": "block",
        "message": "“{term}”引导用户到站外平台搜索或关注。",
        "hint": "请删除站外平台的引导，请用户在店铺内浏览。",
        "examples": ["B站搜索店铺名看测评", "红书关注我们"],
        "counter_examples": ["站内搜索店铺名即可", "搜索店铺名关注店铺"],
    },
    {
        "rule": "TPL-OFFSITE",
        "name": "站外交易",
        "first_terms": ["私下", "线下", "私人", "私聊"],
        "second_terms": ["转账", "打款", "汇款", "交易", "付款"],
        "max_gap": 2,
        "ordered": True,
        "exceptions": [],
        "severity": "block",
        "message": "“{term}”引导用户绕过平台交易。",
        "hint": "请删除站外付款的引导，所有交易请在平台内完成。",
        "examples": ["私下转账享受九折", "线下转账更优惠"],
        "counter_examples": ["线下门店同步上新", "下单付款后48小时内发货"],
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
