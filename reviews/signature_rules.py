"""The signature rules of DOMAIN.md (rule ids are part of the interface).

SIG-CHARSET judges the text as typed (™ is a symbol, not "TM"; ① is not 1; only the full-width
forms of letters and digits, which are the same letters, pass). SIG-LENGTH counts the
NFKC-normalised, case-folded text (full-width ＪＤ is jd). SIG-NEUTRAL and SIG-PLATFORM see
through evasions like the content word lists (``reviews.policy.wordlists``): look-alikes and
homophones from the confusables table (京東, 荆东), pinyin (jingdong, ceshi) and separators.
Spans point back into the text as typed. Every finding blocks submission.

| id | rule |
| SIG-LENGTH | weighted length ≤ 18 (CJK 2, anything else 1), at least 2 characters |
| SIG-CHARSET | only CJK ideographs, ASCII letters and digits (or their full-width forms), as typed |
| SIG-NEUTRAL | not a neutral/generic name (``NeutralName`` rows; 测试 and test anywhere) |
| SIG-PLATFORM | does not contain a platform brand term (``PlatformBrandTerm`` rows) |
| SIG-DUPLICATE | not the same (after normalisation) as another shop's pending or live signature |
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from django.utils.translation import gettext as _

from reviews.findings import Finding
from reviews.models.review import ReviewState
from reviews.models.signatures import NeutralName, PlatformBrandTerm, Signature
from reviews.normalization import NormalizedText, fold, is_ascii_alnum, is_cjk, normalize, normalize_key
from reviews.policy import pinyin
from reviews.policy.confusables import Confusables, published_confusables
from reviews.policy.text import evasion_view
from reviews.policy.wordlists import CompiledList

SIGNATURE_MAX_WEIGHT = 18  # 9 Chinese characters or 18 letters/digits
SIGNATURE_MIN_CHARS = 2
CJK_WEIGHT = 2
OTHER_WEIGHT = 1
BLOCK = "block"


def signature_weight(char: str) -> int:
    return CJK_WEIGHT if is_cjk(char) else OTHER_WEIGHT


def _finding(norm: NormalizedText, rule: str, start: int, end: int, message: str, hint: str) -> Finding:
    span_start, span_end = norm.span(start, end)
    return Finding(rule=rule, start=span_start, end=span_end, severity=BLOCK, message=message, hint=hint)


def check_length(norm: NormalizedText) -> list[Finding]:
    text = norm.text
    if len(text) < SIGNATURE_MIN_CHARS:
        return [_finding(
            norm, "SIG-LENGTH", 0, len(text),
            _("签名太短：至少需要 %d 个字符。") % SIGNATURE_MIN_CHARS,
            _("请使用 2–9 个汉字或不超过 18 个字母/数字，例如店铺名称。"),
        )]
    total = 0
    for index, char in enumerate(text):
        total += signature_weight(char)
        if total > SIGNATURE_MAX_WEIGHT:
            weight = sum(signature_weight(c) for c in text)
            return [_finding(
                norm, "SIG-LENGTH", index, len(text),
                _(
                    "签名过长：长度按汉字计 2、字母或数字计 1，共 %(weight)d，"
                    "最多 %(max)d（即 9 个汉字或 18 个字母）。"
                )
                % {"weight": weight, "max": SIGNATURE_MAX_WEIGHT},
                _("请删去标出的部分，或改用更短的店铺简称。"),
            )]
    return []


def _typed_ok(char: str) -> bool:
    """A character a signature may hold, as typed: a 汉字, an ASCII letter or digit, or the
    full-width form of one (Ａ is A in another width; ™, ①, ㎏ are symbols whatever NFKC says)."""
    if is_cjk(char) or is_ascii_alnum(char):
        return True
    return unicodedata.decomposition(char).startswith("<wide>") and is_ascii_alnum(fold(char))


def check_charset(norm: NormalizedText) -> list[Finding]:
    """One finding per run of typed characters that are not CJK, ASCII letters or digits."""
    findings: list[Finding] = []
    text = norm.original
    index = 0
    while index < len(text):
        if _typed_ok(text[index]):
            index += 1
            continue
        start = index
        while index < len(text) and not _typed_ok(text[index]):
            index += 1
        bad = text[start:index]
        findings.append(Finding(
            rule="SIG-CHARSET", start=start, end=index, severity=BLOCK,
            message=_("签名只能包含汉字、英文字母和数字，不能有空格、标点、括号或符号：“%s”。") % bad,
            hint=_("请删除标出的字符（签名的【】由系统自动添加）。"),
        ))
    return findings


@lru_cache(maxsize=64)
def _compiled(rule: str, terms: tuple[str, ...], table: Confusables, latin_boundaries: bool) -> CompiledList:
    return CompiledList.build(
        rule=rule, version=0, message="", hint="", terms=[(t, BLOCK) for t in terms], exceptions=[],
        confusables=table, latin_boundaries=latin_boundaries,
    )


def _whole(text: str, term: str, table: Confusables) -> bool:
    """The whole signature is ``term``, through look-alikes (驗證碼) or in pinyin (yanzhengma)."""
    view, key = evasion_view(text, table), evasion_view(term, table).text
    if not key:
        return False
    if view.text == key or evasion_view(text).text == evasion_view(term).text:
        return True
    spelled = view.pinyin
    forms = {pinyin.fuzzy(form)[0] for form in pinyin.term_pinyins(key)}  # spelled as the view spells
    return spelled is not None and spelled.text in forms


def check_neutral(
    norm: NormalizedText, neutral_names: Iterable[NeutralName], confusables: Confusables | None = None
) -> list[Finding]:
    table = published_confusables() if confusables is None else confusables
    text = norm.original
    for name in neutral_names:
        if not normalize_key(name.term):
            continue
        if name.match == NeutralName.Match.CONTAINS:
            compiled = _compiled("SIG-NEUTRAL", (name.term,), table, True)
            hits = compiled.hits(compiled.view(text))
            if not hits:
                continue
            start, end = compiled.view(text).span(hits[0].start, hits[0].end)
        elif _whole(text, name.term, table):
            start, end = 0, len(text)
        else:
            continue
        return [Finding(
            rule="SIG-NEUTRAL", start=start, end=end, severity=BLOCK,
            message=_("“%s”是通用/中性名称，不能作为签名。") % name.term,
            hint=_("签名需能识别您的店铺或品牌，请使用店铺名称或品牌名。"),
        )]
    return []


def check_platform(
    norm: NormalizedText, brand_terms: Iterable[PlatformBrandTerm], confusables: Confusables | None = None
) -> list[Finding]:
    """Every occurrence of a brand term, also inside a longer Latin word (JDshop)."""
    table = published_confusables() if confusables is None else confusables
    terms = tuple(sorted(b.term for b in brand_terms if normalize_key(b.term)))
    if not terms:
        return []
    compiled = _compiled("SIG-PLATFORM", terms, table, False)
    view = compiled.view(norm.original)
    findings: list[Finding] = []
    for hit in compiled.hits(view):
        start, end = view.span(hit.start, hit.end)
        findings.append(Finding(
            rule="SIG-PLATFORM", start=start, end=end, severity=BLOCK,
            message=_("签名不能包含平台品牌“%s”（不区分大小写和全角/半角）。") % norm.original[start:end],
            hint=_("请删除平台品牌，只保留您自己的店铺或品牌名称。"),
        ))
    return findings


def active_neutral_names() -> list[NeutralName]:
    return list(NeutralName.objects.filter(active=True))


def active_brand_terms() -> list[PlatformBrandTerm]:
    return list(PlatformBrandTerm.objects.filter(active=True))


def signatures_in_use(normalized: Iterable[str]) -> dict[str, set[int]]:
    """For each normalised text, the shops whose pending or approved signature it is (one query)."""
    result: dict[str, set[int]] = {text: set() for text in normalized}
    rows = Signature.objects.filter(
        normalized__in=list(result), state__in=[ReviewState.PENDING, ReviewState.APPROVED]
    ).values_list("normalized", "shop_id")
    for text, shop_id in rows:
        result[text].add(shop_id)
    return result


def check_duplicate(norm: NormalizedText, *, shop_id: int | None) -> list[Finding]:
    """Another shop already uses (or has submitted) the same signature."""
    if not norm.text or "\x00" in norm.text:
        # Empty, or unstorable in PostgreSQL (NUL): SIG-LENGTH / SIG-CHARSET already block it.
        return []
    if not signatures_in_use([norm.text])[norm.text] - {shop_id}:
        return []
    return [_finding(
        norm, "SIG-DUPLICATE", 0, len(norm.text),
        _("该签名已被其他店铺使用或正在申请（比较时不区分大小写和全角/半角）。"),
        _("签名在全平台唯一，请使用能区分您店铺的名称。"),
    )]


def signature_findings(
    text: str,
    *,
    shop_id: int | None = None,
    neutral_names: Iterable[NeutralName] | None = None,
    brand_terms: Iterable[PlatformBrandTerm] | None = None,
    confusables: Confusables | None = None,
) -> list[Finding]:
    """All findings of the signature rules for ``text`` (as typed, without 【】).

    ``shop_id`` is the submitting shop (its own signatures are not duplicates);
    with ``None`` the text is compared with every shop's signatures. Word lists
    and the confusables table are read from the database unless given.
    """
    norm = normalize(text)
    if neutral_names is None:
        neutral_names = active_neutral_names()
    if brand_terms is None:
        brand_terms = active_brand_terms()
    if confusables is None:
        confusables = published_confusables()
    findings = [
        *check_length(norm),
        *check_charset(norm),
        *check_neutral(norm, neutral_names, confusables),
        *check_platform(norm, brand_terms, confusables),
        *check_duplicate(norm, shop_id=shop_id),
    ]
    return findings
