"""The signature rules of DOMAIN.md (rule ids are part of the interface).

All rules run on the NFKC-normalised, case-folded text (full-width ＪＤ is jd);
spans point back into the text as typed. Every finding blocks submission.

| id | rule |
| SIG-LENGTH | weighted length ≤ 18 (CJK 2, anything else 1), at least 2 characters |
| SIG-CHARSET | only CJK ideographs, ASCII letters and digits |
| SIG-NEUTRAL | not a neutral/generic name (``NeutralName`` rows) |
| SIG-PLATFORM | does not contain a platform brand term (``PlatformBrandTerm`` rows) |
| SIG-DUPLICATE | not the same (after normalisation) as another shop's pending or live signature |
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _

from reviews.findings import Finding
from reviews.models.review import ReviewState
from reviews.models.signatures import NeutralName, PlatformBrandTerm, Signature
from reviews.normalization import NormalizedText, is_ascii_alnum, is_cjk, normalize, normalize_key

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


def check_charset(norm: NormalizedText) -> list[Finding]:
    """One finding per run of characters that are not CJK, ASCII letters or digits."""
    findings: list[Finding] = []
    text = norm.text
    index = 0
    while index < len(text):
        if is_cjk(text[index]) or is_ascii_alnum(text[index]):
            index += 1
            continue
        start = index
        while index < len(text) and not (is_cjk(text[index]) or is_ascii_alnum(text[index])):
            index += 1
        span_start, span_end = norm.span(start, index)
        bad = norm.original[span_start:span_end]
        findings.append(_finding(
            norm, "SIG-CHARSET", start, index,
            _("签名只能包含汉字、英文字母和数字，不能有空格、标点、括号或符号：“%s”。") % bad,
            _("请删除标出的字符（签名的【】由系统自动添加）。"),
        ))
    return findings


def check_neutral(norm: NormalizedText, neutral_names: Iterable[NeutralName]) -> list[Finding]:
    for name in neutral_names:
        term = normalize_key(name.term)
        if not term:
            continue
        if name.match == NeutralName.Match.CONTAINS:
            position = norm.text.find(term)
            if position < 0:
                continue
            start, end = position, position + len(term)
        elif norm.text == term:
            start, end = 0, len(norm.text)
        else:
            continue
        return [_finding(
            norm, "SIG-NEUTRAL", start, end,
            _("“%s”是通用/中性名称，不能作为签名。") % name.term,
            _("签名需能识别您的店铺或品牌，请使用店铺名称或品牌名。"),
        )]
    return []


def check_platform(norm: NormalizedText, brand_terms: Iterable[PlatformBrandTerm]) -> list[Finding]:
    findings: list[Finding] = []
    for brand in brand_terms:
        term = normalize_key(brand.term)
        if not term:
            continue
        position = norm.text.find(term)
        while position >= 0:
            start, end = norm.span(position, position + len(term))
            findings.append(_finding(
                norm, "SIG-PLATFORM", position, position + len(term),
                _("签名不能包含平台品牌“%s”（不区分大小写和全角/半角）。") % norm.original[start:end],
                _("请删除平台品牌，只保留您自己的店铺或品牌名称。"),
            ))
            position = norm.text.find(term, position + len(term))
    findings.sort(key=lambda f: (f.start, f.end))
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
) -> list[Finding]:
    """All findings of the signature rules for ``text`` (as typed, without 【】).

    ``shop_id`` is the submitting shop (its own signatures are not duplicates);
    with ``None`` the text is compared with every shop's signatures. Word lists
    are read from the database unless given.
    """
    norm = normalize(text)
    if neutral_names is None:
        neutral_names = active_neutral_names()
    if brand_terms is None:
        brand_terms = active_brand_terms()
    findings = [
        *check_length(norm),
        *check_charset(norm),
        *check_neutral(norm, neutral_names),
        *check_platform(norm, brand_terms),
        *check_duplicate(norm, shop_id=shop_id),
    ]
    return findings
