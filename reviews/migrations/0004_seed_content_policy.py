"""Seed the content-policy word lists (published as version 1) and the template variables.

Decisions recorded here (see docs/CONTENT_POLICY.md):
- 最后一天, 最新, 最高立减 are not absolute claims: only the absolute 最… words are listed
  (最低价, 最佳, 最好 …), and 最高 is not (最高立减50元 caps a discount);
- 第一 is banned, ordinal uses are exceptions (第一次, 第一件, 第一时间 …);
- 顶级 stays banned even in 顶级食材: it is the absolute quality claim the law targets;
- 群 is banned, words that merely contain it are exceptions (人群, 群岛, 群体 …);
- QQ is banned, QQ音乐 and QQ糖 (product names) are exceptions;
- ambiguous words (独家, 首发, 极致, 至尊, 最低 …) only warn: the reviewer decides.
"""

from django.db import migrations

B, W = "block", "warn"

WORDLISTS = [
    {
        "rule": "TPL-ADLAW",
        "name": "广告法禁用词/绝对化用语",
        "message": "含有广告法禁用词或绝对化用语“{term}”。",
        "hint": "请删除或改为客观描述，例如用“低至”“限时优惠”代替“最低价”“全网最低”。",
        "terms": [
            (t, B) for t in (
                "底价", "超低价", "最低价", "全网最低", "全网最低价", "史上最低", "第一", "国家级", "世界级",
                "全球级", "宇宙级", "最高级", "最高档", "最高端", "最佳", "最好", "最优", "最强", "最便宜",
                "最先进", "最受欢迎", "最赚", "最流行", "最专业", "最权威", "最顶级", "最奢侈", "顶级", "唯一",
                "独一无二", "绝对", "首个", "首选", "首家", "领导品牌", "遥遥领先", "销量冠军", "史无前例",
                "前无古人", "空前绝后", "绝无仅有", "特供", "驰名商标", "免检", "零风险", "无敌", "秒杀全网",
                "no.1", "no1", "top1", "第1名",
            )
        ] + [
            (t, W) for t in (
                "最低", "最大", "万能", "永久", "领先", "冠军", "极品", "极致", "王牌", "巅峰", "至尊", "独家",
                "首发", "专供",
            )
        ],
        "exceptions": [
            "第一次", "第一件", "第一单", "第一天", "第一波", "第一批", "第一步", "第一期", "第一轮", "第一口",
            "第一杯", "第一份", "第一时间", "第一季", "第一届", "第一站", "第一弹", "第一场", "第一周", "第一笔",
            "最好尽快", "最好提前", "最好在", "万能胶", "万能表", "绝对值",
        ],
    },
    {
        "rule": "TPL-REVIEW-BAIT",
        "name": "好评诱导",
        "message": "含有诱导好评的内容“{term}”。",
        "hint": "请删除以好评、晒图换取返现或礼品的内容，平台禁止诱导评价。",
        "terms": [
            (t, B) for t in (
                "好评返现", "好评返", "好评有礼", "好评送", "好评赠", "好评奖励", "好评领", "五星好评", "5星好评",
                "五分好评", "5分好评", "全五星", "全五分", "满分好评", "晒图返现", "晒图有礼", "晒图送", "晒图领",
                "晒单返现", "晒单有礼", "晒单送", "晒单领", "评价返现", "评价有礼", "评价送", "评论返现",
                "追评返现", "带图好评", "带图评价", "给个好评", "给好评", "写好评", "求好评", "好评截图",
                "五星评价", "5星评价", "返好评",
            )
        ],
        "exceptions": [],
    },
    {
        "rule": "TPL-OFFSITE",
        "name": "引导站外/私人联系方式",
        "message": "含有引导到站外或私下联系的内容“{term}”。",
        "hint": "请删除微信、QQ、群、其他平台等站外引导，请用户在店铺内咨询和下单。",
        "terms": [
            (t, B) for t in (
                "加微信", "加微", "微信", "加v", "加薇", "薇信", "v信", "vx", "wx", "微商", "qq", "扣扣", "企鹅号",
                "群", "公众号", "私聊", "加好友", "淘宝", "天猫", "拼多多", "抖音", "快手", "唯品会", "苏宁", "美团",
                "闲鱼", "小红书", "亚马逊", "淘口令", "钉钉", "微博",
            )
        ] + [("私信", W)],
        "exceptions": [
            "人群", "群体", "群众", "群岛", "一群", "族群", "超群", "群星", "群英", "鸡群", "羊群", "牛群",
            "建筑群", "群山", "群芳", "群落", "群居", "成群", "合群", "离群", "群雄", "集群", "菌群", "肌群",
            "群青", "qq音乐", "qq糖", "天猫精灵", "快手菜", "快手早餐", "快手好菜",
        ],
    },
    {
        "rule": "TPL-IMPERSONATE",
        "name": "冒充平台官方",
        "message": "“{term}”会让用户误以为是平台官方发送的短信。",
        "hint": "请以店铺名义撰写内容，不要使用“京东官方”“平台通知”“系统通知”等字样。",
        "terms": [
            (t, B) for t in (
                "京东官方", "京东客服", "京东平台", "京东通知", "京东提醒", "京东商城通知", "京东自营", "京东安全中心",
                "京东账户", "京东账号", "京东官网", "京东发来", "京东物流通知", "平台通知", "平台提醒", "平台客服",
                "官方通知", "官方提醒", "官方客服", "系统通知", "系统消息", "系统提示", "jd官方", "jd客服",
                "jd通知", "京東官方", "京東客服", "京東通知",
            )
        ],
        "exceptions": [],
    },
]

VARIABLES = [
    # name, label, type, example, max_length, uses
    ("shop_name", "店铺名称", "text", "爱丽丝服饰旗舰店", 20, ["coupon", "repurchase", "marketing"]),
    ("coupon_amount", "优惠券面额", "money", "20元", 8, ["coupon"]),
    ("coupon_threshold", "使用门槛", "text", "满199元可用", 12, ["coupon"]),
    ("coupon_expiry", "有效期", "date", "11月11日23:59", 16, ["coupon"]),
    ("coupon_link", "领券链接", "link", "https://3.cn/2aBcD4e", 24, ["coupon"]),
    ("shop_link", "店铺链接", "link", "https://3.cn/7xYz9Qw", 24, ["coupon", "repurchase", "marketing"]),
    ("product_name", "商品名称", "text", "纯棉圆领T恤", 20, ["coupon", "repurchase"]),
]


def seed(apps, schema_editor):
    WordList = apps.get_model("reviews", "WordList")
    WordListTerm = apps.get_model("reviews", "WordListTerm")
    WordListException = apps.get_model("reviews", "WordListException")
    WordListRevision = apps.get_model("reviews", "WordListRevision")
    TemplateVariable = apps.get_model("reviews", "TemplateVariable")
    for data in WORDLISTS:
        wordlist, created = WordList.objects.get_or_create(
            rule=data["rule"],
            defaults={"name": data["name"], "message": data["message"], "hint": data["hint"], "version": 1},
        )
        if not created:
            continue
        terms = sorted({t: s for t, s in data["terms"]}.items())
        exceptions = sorted(set(data["exceptions"]))
        WordListTerm.objects.bulk_create(WordListTerm(wordlist=wordlist, term=t, severity=s) for t, s in terms)
        WordListException.objects.bulk_create(WordListException(wordlist=wordlist, phrase=p) for p in exceptions)
        WordListRevision.objects.create(
            wordlist=wordlist, version=1, terms=[[t, s] for t, s in terms], exceptions=exceptions
        )
    for position, (name, label, type_, example, max_length, uses) in enumerate(VARIABLES, start=1):
        TemplateVariable.objects.get_or_create(
            name=name,
            defaults={
                "label": label, "type": type_, "example": example, "max_length": max_length,
                "uses": uses, "position": position,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("reviews", "0003_content_policy")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
