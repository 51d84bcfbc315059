"""Seed the confusables table (published as version 1) and 测试/test as neutral signature words.

Decisions recorded here (see docs/CONTENT_POLICY.md, "Evasions"):
- homophones and shape look-alikes are seeded as *words* (薇信 → 微信, 加裙 → 加群), not single
  characters: 薇 alone or 裙 alone would turn 蔷薇 or 连衣裙 into findings;
- traditional characters and Cyrillic/Greek look-alikes of Latin letters are single characters:
  they never change a simplified Chinese text;
- abbreviations are data too (vx, wx, pdd, xhs, gzh for 微信, 拼多多, 小红书, 公众号); "tb" and "dy"
  are not seeded (1TB, DIY-like codes would be flagged);
- 企鹅 stands for QQ, but penguin products (企鹅玩偶, 小企鹅 …) are rows kept as written;
- 测试 and test are neutral names a signature may not contain (as Alibaba Cloud refuses them).
"""

from django.db import migrations
from django.utils import timezone

SHAPE, HOMOPHONE, ABBREVIATION, TRADITIONAL, KEEP = "shape", "homophone", "abbreviation", "traditional", "keep"

PAIRS = [
    # 微信
    *[(v, "微信", HOMOPHONE) for v in ("薇信", "威信", "维信", "卫信", "伟信", "危信", "围信", "微芯", "微心",
                                        "薇芯", "威芯", "维芯", "薇心")],
    *[(v, "微信", SHAPE) for v in ("徽信", "徾信", "溦信", "嶶信", "微倍")],
    *[(v, "微信", ABBREVIATION) for v in ("vx", "wx", "wechat", "weixin")],
    # QQ
    *[(v, "qq", HOMOPHONE) for v in ("扣扣", "抠抠", "寇寇", "蔻蔻")],
    ("企鹅", "qq", ABBREVIATION),
    # 群
    ("加裙", "加群", HOMOPHONE), ("进裙", "进群", HOMOPHONE), ("裙号", "群号", HOMOPHONE),
    ("入裙", "入群", HOMOPHONE), ("粉丝裙", "粉丝群", HOMOPHONE), ("福利裙", "福利群", HOMOPHONE),
    # 公众号
    *[(v, "公众号", HOMOPHONE) for v in ("工众号", "宫众号", "公重号", "公众浩", "攻众号")],
    ("gzh", "公众号", ABBREVIATION),
    # marketplaces and apps
    *[(v, "淘宝", HOMOPHONE) for v in ("掏宝", "陶宝", "套宝", "淘保")],
    ("拼夕夕", "拼多多", HOMOPHONE), ("pdd", "拼多多", ABBREVIATION),
    *[(v, "抖音", HOMOPHONE) for v in ("抖阴", "斗音", "逗音", "陡音")],
    *[(v, "小红书", HOMOPHONE) for v in ("小红薯", "小红叔", "小红树")], ("xhs", "小红书", ABBREVIATION),
    ("薇博", "微博", HOMOPHONE),
    ("jd", "京东", ABBREVIATION), ("荆东", "京东", HOMOPHONE), ("晶东", "京东", HOMOPHONE),
    # reviews
    *[(v, "好评", HOMOPHONE) for v in ("好平", "好坪", "郝评", "好苹", "好萍")],
    *[(v, "返现", HOMOPHONE) for v in ("反现", "饭现", "返鲜")],
    *[(v, "晒图", HOMOPHONE) for v in ("筛图", "晒途", "晒涂")],
    *[(v, "五星", HOMOPHONE) for v in ("伍星", "午星", "舞星")],
    # Advertising Law
    *[(v, "最低价", HOMOPHONE) for v in ("罪低价", "醉低价", "最底价")],
    ("第壹", "第一", TRADITIONAL), ("弟一", "第一", HOMOPHONE),
    # traditional characters (a simplified text never changes)
    *[(t, s, TRADITIONAL) for t, s in (
        ("東", "东"), ("寶", "宝"), ("號", "号"), ("價", "价"), ("眾", "众"), ("衆", "众"), ("羣", "群"),
        ("評", "评"), ("圖", "图"), ("禮", "礼"), ("現", "现"), ("級", "级"), ("優", "优"), ("絕", "绝"),
        ("對", "对"), ("選", "选"), ("銷", "销"), ("聯", "联"), ("繫", "系"), ("網", "网"), ("贈", "赠"),
        ("紅", "红"), ("書", "书"), ("話", "话"), ("統", "统"), ("團", "团"), ("鬥", "斗"), ("魚", "鱼"),
        ("錢", "钱"), ("曬", "晒"), ("單", "单"), ("賺", "赚"), ("權", "权"), ("專", "专"), ("獨", "独"),
        ("無", "无"), ("敵", "敌"), ("檢", "检"), ("險", "险"), ("頂", "顶"), ("國", "国"), ("萬", "万"),
        ("領", "领"), ("導", "导"), ("廣", "广"), ("訊", "讯"), ("機", "机"), ("關", "关"), ("註", "注"),
        ("條", "条"), ("門", "门"), ("長", "长"), ("發", "发"), ("熱", "热"), ("薦", "荐"), ("紹", "绍"),
        ("碼", "码"), ("臺", "台"), ("幣", "币"), ("購", "购"), ("買", "买"), ("賣", "卖"), ("貨", "货"),
        ("後", "后"), ("個", "个"), ("這", "这"), ("們", "们"), ("過", "过"), ("給", "给"), ("送", "送"),
    ) if t != s],
    # Latin look-alikes (Cyrillic, Greek) and the multiplication sign for x
    *[(v, c, SHAPE) for v, c in (
        ("а", "a"), ("е", "e"), ("о", "o"), ("р", "p"), ("с", "c"), ("у", "y"), ("х", "x"), ("і", "i"),
        ("ј", "j"), ("ѕ", "s"), ("ԛ", "q"), ("ԝ", "w"), ("ο", "o"), ("ν", "v"), ("α", "a"), ("ϲ", "c"),
        ("κ", "k"), ("×", "x"),
    )],
]

NEUTRAL_CONTAINS = [("测试", "测试签名（阿里云等平台均不允许）"), ("test", "测试签名（阿里云等平台均不允许）")]

# 企鹅 stands for QQ; penguins that are products stay penguins (a longer variant kept as written
# wins over 企鹅).
PENGUINS = ["企鹅玩偶", "企鹅公仔", "企鹅抱枕", "企鹅造型", "企鹅图案", "小企鹅", "帝企鹅", "企鹅款", "企鹅毛绒",
            "企鹅宝宝", "企鹅馆"]
PAIRS += [(p, p, KEEP) for p in PENGUINS]


def seed(apps, schema_editor):
    ConfusableTable = apps.get_model("reviews", "ConfusableTable")
    Confusable = apps.get_model("reviews", "Confusable")
    ConfusableRevision = apps.get_model("reviews", "ConfusableRevision")
    NeutralName = apps.get_model("reviews", "NeutralName")

    table, created = ConfusableTable.objects.get_or_create(pk=1, defaults={"version": 1})
    if created:
        pairs = list({variant: (variant, canonical, kind) for variant, canonical, kind in PAIRS}.values())
        pairs.sort(key=lambda p: (p[1], p[0]))
        Confusable.objects.bulk_create(
            Confusable(table=table, variant=v, canonical=c, kind=k) for v, c, k in pairs
        )
        ConfusableRevision.objects.create(
            table=table, version=1, pairs=[list(p) for p in pairs], published_at=timezone.now()
        )
    for term, note in NEUTRAL_CONTAINS:
        NeutralName.objects.get_or_create(term=term, defaults={"match": "contains", "note": note})



class Migration(migrations.Migration):
    dependencies = [("reviews", "0014_confusables")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
