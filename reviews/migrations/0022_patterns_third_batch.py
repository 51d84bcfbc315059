"""What the labelled corpus's third batch taught (tests/reviews/corpus/templates_third_batch.jsonl):

- review bribes worded as 给个五分 / 晒个图 / 评语 / 买家秀 … 可领: more first terms (whole phrases, so
  五分裤 and 五分钟 stay clean) and 可领 as a reward;
- 加店主私人号: 私人号 beside 个人号 in the off-site account pattern;
- two new off-site patterns: sharing to 朋友圈 (转发/分享 … 朋友圈, 集赞 for a reward) and payment
  outside the platform (转账/打款 … 支付宝/银行卡);
- 绿泡泡 (slang for 微信) as an off-site term.

Each changed pattern is published as its next version; a pattern a reviewer has changed since its
seed (another version than the one seeded) is left alone, as in 0020.
"""

from django.db import migrations
from django.db.models import F
from django.utils import timezone

DEFINITION_KEYS = (
    "rule", "name", "first_terms", "second_terms", "max_gap", "ordered", "exceptions", "severity",
    "message", "hint",
)

# (pattern name, the version the seed left it at, first terms to add, second terms to add)
EXTENDED = [
    ("评价换返利", 1, ["给个五分", "给五分", "打五分", "五分好评", "晒个图", "晒张图", "评语"], ["可领"]),
    ("关注或添加站外账号", 2, [], ["私人号"]),
]

NEW = [
    {
        "rule": "TPL-OFFSITE",
        "name": "转发朋友圈",
        "first_terms": ["转发", "分享", "发到", "晒到", "集赞"],
        "second_terms": ["朋友圈"],
        "max_gap": 3,
        "ordered": False,
        "exceptions": [],
        "severity": "block",
        "message": "“{term}”引导用户到站外社交平台转发、集赞。",
        "hint": "请删除转发朋友圈、集赞换取优惠的内容，可改为店铺内的分享活动。",
        "examples": ["转发朋友圈集赞20个送礼品", "新品分享到朋友圈，截图给客服领券"],
        "counter_examples": ["朋友圈同款连衣裙上新", "邀请好友下单，各得5元券"],
    },
    {
        "rule": "TPL-OFFSITE",
        "name": "站外收款",
        "first_terms": ["转账", "打款", "汇款"],
        "second_terms": ["支付宝", "银行卡", "对公账户", "私人账户"],
        "max_gap": 3,
        "ordered": False,
        "exceptions": [],
        "severity": "block",
        "message": "“{term}”引导用户在平台外付款。",
        "hint": "请删除站外付款的引导，所有交易请在平台内完成。",
        "examples": ["转账到支付宝更优惠", "打款到银行卡享九折"],
        "counter_examples": ["下单付款后48小时内发货", "支持花呗分期，满199减30"],
    },
]

OFFSITE_TERMS = ["绿泡泡"]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def extend_patterns(apps) -> None:
    ContentPattern = apps.get_model("reviews", "ContentPattern")
    PatternRevision = apps.get_model("reviews", "PatternRevision")
    for name, seeded_version, first, second in EXTENDED:
        pattern = ContentPattern.objects.filter(name=name, version=seeded_version).first()
        if pattern is None:
            continue
        latest = PatternRevision.objects.get(pattern=pattern, version=seeded_version)
        first_terms = _lines(pattern.first_terms) + [t for t in first if t not in _lines(pattern.first_terms)]
        second_terms = _lines(pattern.second_terms) + [t for t in second if t not in _lines(pattern.second_terms)]
        pattern.first_terms = "\n".join(first_terms)
        pattern.second_terms = "\n".join(second_terms)
        pattern.version = seeded_version + 1
        pattern.save()
        definition = {**latest.definition, "first_terms": first_terms, "second_terms": second_terms}
        PatternRevision.objects.create(pattern=pattern, version=pattern.version, definition=definition)


def add_patterns(apps) -> None:
    ContentPattern = apps.get_model("reviews", "ContentPattern")
    PatternRevision = apps.get_model("reviews", "PatternRevision")
    for data in NEW:
        if ContentPattern.objects.filter(name=data["name"]).exists():
            continue
        pattern = ContentPattern.objects.create(
            rule=data["rule"], name=data["name"], first_terms="\n".join(data["first_terms"]),
            second_terms="\n".join(data["second_terms"]), max_gap=data["max_gap"], ordered=data["ordered"],
            exceptions="\n".join(data["exceptions"]), severity=data["severity"], message=data["message"],
            hint=data["hint"], examples="\n".join(data["examples"]),
            counter_examples="\n".join(data["counter_examples"]), version=1,
        )
        definition = {key: data[key] for key in DEFINITION_KEYS}
        PatternRevision.objects.create(pattern=pattern, version=1, definition={**definition, "active": True})


def add_offsite_terms(apps, now) -> None:
    WordList = apps.get_model("reviews", "WordList")
    WordListTerm = apps.get_model("reviews", "WordListTerm")
    WordListRevision = apps.get_model("reviews", "WordListRevision")
    offsite = WordList.objects.filter(rule="TPL-OFFSITE").first()
    if offsite is None:
        return
    added = [
        term for term in OFFSITE_TERMS
        if WordListTerm.objects.get_or_create(wordlist=offsite, term=term, defaults={"severity": "block"})[1]
    ]
    if not added:
        return
    WordListRevision.objects.create(
        wordlist=offsite, version=offsite.version + 1, published_at=now,
        terms=[[t.term, t.severity] for t in offsite.terms.order_by("term")],
        exceptions=[e.phrase for e in offsite.exceptions.order_by("phrase")],
    )
    WordList.objects.filter(pk=offsite.pk).update(version=F("version") + 1, updated_at=now)


def forward(apps, schema_editor):
    extend_patterns(apps)
    add_patterns(apps)
    add_offsite_terms(apps, timezone.now())


class Migration(migrations.Migration):
    dependencies = [("reviews", "0021_confusables_third_batch")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
