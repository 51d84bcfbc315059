"""The TPL-* content rules of DOMAIN.md, one function each.

Every rule takes the ``Subject`` (the text and what is known about it) and
returns findings whose spans refer to the original text. Rules on characters
(TPL-SYMBOL, TPL-PUNCT, TPL-VARIABLE) read the original text, because NFKC
would turn the correct full-width ，！ into half-width ones and ① into 1.
Rules on words, links and numbers read views that see through evasions
(``reviews.policy.text``): word lists the evasion view (separators, look-alikes,
homophones, pinyin), links the link view (点/。/dot for the dot), phone numbers the
digits view (separators, full-width digits, Chinese numerals, O/0 and l/1). Spans
always map back to the text as typed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from reviews.findings import Finding
from reviews.policy import length as length_mod
from reviews.policy.text import compact, digits_view, is_cjk, link_view, normalized
from reviews.policy.variables import (
    PLACEHOLDER_LIKE_RE,
    TOKEN_RE,
    Token,
    VariableSpec,
    longest_length,
    tokens,
)
from reviews.policy.wordlists import CompiledList

Span = tuple[int, int]

# --- TPL-INCOMPLETE ---------------------------------------------------------
# Fewer meaningful characters than this (after removing variables and greetings) is not a message.
MIN_CONTENT_CHARS = 4
GREETINGS = (
    "亲爱的", "尊敬的", "您好", "你好", "大家好", "早上好", "中午好", "下午好", "晚上好", "哈喽", "嗨",
    "亲", "hello", "hi", "hey", "dear", "顾客", "会员", "用户", "客户", "朋友们", "朋友", "先生", "女士",
    "小伙伴", "家人们", "宝宝", "各位", "大家",
)
_GREETING_RE = re.compile("|".join(sorted(map(re.escape, GREETINGS), key=len, reverse=True)))

# --- TPL-SYMBOL -------------------------------------------------------------
# Everything that is not a letter, digit, space or one of these marks is a special
# symbol (【】{}▽㇀^●★『』「」〖〗※→①², emoji, invisible characters ...).
CHINESE_PUNCTUATION = "，。！？；：、“”‘’（）《》〈〉—…·～－／％＋"
HALF_WIDTH_PUNCTUATION = ",.!?;:()"
ALLOWED_MARKS = set(CHINESE_PUNCTUATION + HALF_WIDTH_PUNCTUATION + "%-/+~'\"¥￥℃°\n\r")
_LETTER_OR_DIGIT = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl"}

# --- TPL-PUNCT --------------------------------------------------------------
FULL_WIDTH = dict(zip(HALF_WIDTH_PUNCTUATION, "，。！？；：（）", strict=True))
_CJK_CONTEXT = set(CHINESE_PUNCTUATION) - set("－／％＋")
_BETWEEN_DIGITS_OK = set(".,:")  # 9.9 元, 1,000 件, 10:00

# --- TPL-LINK ---------------------------------------------------------------
_TLDS = (
    "com|cn|net|org|cc|co|io|me|top|vip|shop|xyz|info|biz|tv|ly|gl|im|link|club|site|online|store|"
    "ink|ren|wang|asia|hk|tw|mobi|app|ltd|tech|fun|icu|live|work|pro|red|kim|ai|jd"
)
# URL characters after NFKC + case folding; stops at CJK text, punctuation and variable tokens.
_URL_TAIL = r"[a-z0-9\-._~/?#@&=%+]*"
LINK_RE = re.compile(
    rf"(?:https?|ftp)://{_URL_TAIL}"
    rf"|www\.{_URL_TAIL}"
    rf"|(?<![a-z0-9._-])(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS})(?![a-z0-9-])(?:[/?#]{_URL_TAIL})?"
)

# --- TPL-OFFSITE (numbers) --------------------------------------------------
# Matched on ``digits_view``: separators between digits are gone, digit-like characters are digits.
PHONE_RES = (
    re.compile(r"(?<![0-9])(?:\+?86)?1[3-9][0-9]{9}(?![0-9])"),  # mobile
    re.compile(r"(?<![0-9])0[0-9]{2,3}[1-9][0-9]{6,7}(?![0-9])"),  # landline with area code
    re.compile(r"(?<![0-9])[48]00[0-9]{7}(?![0-9])"),  # 400/800 service numbers
)

# --- TPL-SUFFIX -------------------------------------------------------------
# Matched on the compact text (spaces and interference marks removed, case folded).
_REPLY_CODE = r"(?:td|t|r|n|0)(?![a-z0-9])"
UNSUBSCRIBE_RES = (
    re.compile(rf"(?:拒收|退订|取消订阅|不想收到)[^，。！？,.!?]{{0,6}}?(?:回复|回|发送|发){_REPLY_CODE}"),
    re.compile(r"(?:回复|回|发送|发)(?:td|t|r|n|0|退订)(?:即可)?(?:退订|拒收|取消订阅)"),
    re.compile(r"拒收请回复"),
)
_BRACKETED_SIGNATURE_RE = re.compile(r"^\s*【[^【】]{1,20}】|【[^【】]{1,20}】\s*$")
_OPENERS, _CLOSERS = "【[〖〔(", "】]〗〕)"


@dataclass
class Subject:
    """The text under check and what the rules need to know about it."""

    text: str
    signature: str | None
    message_class: str
    specs: dict[str, VariableSpec]  # every active variable
    allowed: set[str]  # variable names allowed here
    use_label: str
    wordlists: list[CompiledList]
    tokens: list[Token] = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = tokens(self.text)

    @property
    def token_spans(self) -> list[Span]:
        return [(t.start, t.end) for t in self.tokens]


def _finding(
    rule: str, span: Span, message: str, hint: str, *, severity: str = "block", version: int | None = None
) -> Finding:
    return Finding(
        rule=rule, start=span[0], end=span[1], severity=severity, message=message, hint=hint,
        list_version=version,
    )


def _inside(index: int, spans: list[Span]) -> bool:
    return any(a <= index < b for a, b in spans)


def _overlaps(span: Span, spans: list[Span]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in spans)


# --- rules ------------------------------------------------------------------


def rule_variable(subject: Subject) -> list[Finding]:
    """TPL-VARIABLE: only known variables, allowed for this use, never two adjacent, no hand-typed ones."""
    text, found = subject.text, []
    for token in subject.tokens:
        spec = subject.specs.get(token.name)
        span = (token.start, token.end)
        if spec is None:
            found.append(_finding(
                "TPL-VARIABLE", span, _("未知变量“%(token)s”。") % {"token": text[span[0]:span[1]]},
                _("请删除它，并通过“插入变量”选择需要的变量。"),
            ))
        elif token.name not in subject.allowed:
            found.append(_finding(
                "TPL-VARIABLE", span,
                _("变量“%(label)s”不能用于%(use)s。") % {"label": spec.label, "use": subject.use_label},
                _("请删除该变量，或选择适用的模板用途。"),
            ))
    for first, second in zip(subject.tokens, subject.tokens[1:], strict=False):
        if not text[first.end:second.start].strip():
            found.append(_finding(
                "TPL-VARIABLE", (first.start, second.end), _("两个变量不能相邻。"),
                _("请在两个变量之间加入文字，例如“满${coupon_threshold}立减${coupon_amount}”的写法。"),
            ))
    for span in placeholder_spans(subject):
        found.append(_finding(
            "TPL-VARIABLE", span,
            _("“%(text)s”不是系统变量，变量不能手动输入。") % {"text": text[span[0]:span[1]]},
            _("请删除它，并通过“插入变量”添加变量。"),
        ))
    return found


def placeholder_spans(subject: Subject) -> list[Span]:
    """Hand-typed placeholders ({0}, {name}, #name#) that are not picker tokens."""
    spans = []
    for match in PLACEHOLDER_LIKE_RE.finditer(subject.text):
        span = match.span()
        if not _overlaps(span, subject.token_spans):
            spans.append(span)
    return spans


def rule_incomplete(subject: Subject) -> list[Finding]:
    """TPL-INCOMPLETE: a complete message, not only a greeting plus a variable, not all variables."""
    text = subject.text
    whole = (0, len(text))
    if not text.strip():
        return [_finding("TPL-INCOMPLETE", whole, _("内容不能为空。"), _("请填写完整的短信内容。"))]
    without_variables = PLACEHOLDER_LIKE_RE.sub("", _strip_tokens(text))
    meaningful = "".join(c for c in compact(without_variables).text if c.isalnum())
    if not meaningful:
        return [_finding(
            "TPL-INCOMPLETE", whole, _("内容不能只有变量或符号。"),
            _("请补充完整的短信内容，说明发送原因和活动信息。"),
        )]
    if len(_GREETING_RE.sub("", meaningful)) < MIN_CONTENT_CHARS:
        return [_finding(
            "TPL-INCOMPLETE", whole,
            _("内容不完整：除称呼、问候语和变量外，正文不足%(min)d个字。") % {"min": MIN_CONTENT_CHARS},
            _("请写出完整的一句话，例如优惠内容、使用方式和有效期。"),
        )]
    return []


def _strip_tokens(text: str) -> str:
    return TOKEN_RE.sub("", text)


def link_spans(subject: Subject) -> list[Span]:
    view = link_view(subject.text)
    spans = []
    for match in LINK_RE.finditer(view.text):
        span = view.span(*match.span())
        if not _overlaps(span, subject.token_spans):
            spans.append(span)
    return spans


def rule_link(subject: Subject) -> list[Finding]:
    """TPL-LINK: no literal links; links come only from variables."""
    return [
        _finding(
            "TPL-LINK", span, _("不能自行填写链接“%(link)s”。") % {"link": subject.text[span[0]:span[1]]},
            _("请删除该链接，通过“插入变量”添加“领券链接”或“店铺链接”，链接在发送时由平台生成。"),
        )
        for span in link_spans(subject)
    ]


def phone_spans(subject: Subject) -> list[Span]:
    view = digits_view(subject.text)
    spans: list[Span] = []
    for pattern in PHONE_RES:
        for match in pattern.finditer(view.text):
            span = view.span(*match.span())
            if not _overlaps(span, spans):
                spans.append(span)
    return sorted(spans)


def rule_offsite_numbers(subject: Subject) -> list[Finding]:
    """TPL-OFFSITE (numbers): no mobile, landline or 400/800 numbers."""
    return [
        _finding(
            "TPL-OFFSITE", span,
            _("含有电话号码“%(number)s”，不能引导用户私下联系。") % {"number": subject.text[span[0]:span[1]]},
            _("请删除电话号码，引导用户通过店铺的在线客服联系。"),
        )
        for span in phone_spans(subject)
    ]


def rule_wordlists(subject: Subject) -> list[Finding]:
    """TPL-ADLAW, TPL-REVIEW-BAIT, TPL-OFFSITE (words), TPL-IMPERSONATE: the published word lists."""
    masked = subject.token_spans
    found = []
    for wordlist in subject.wordlists:
        view = wordlist.view(subject.text)  # cached: lists sharing a confusables table share it
        for hit in wordlist.hits(view):
            span = view.span(hit.start, hit.end)
            if _overlaps(span, masked):
                continue
            typed = subject.text[span[0]:span[1]]
            found.append(_finding(
                wordlist.rule, span, _format(wordlist.message, typed), _format(wordlist.hint, typed),
                severity=hit.severity, version=wordlist.version,
            ))
    return found


def _format(template: str, term: str) -> str:
    return template.replace("{term}", term)


def suffix_spans(subject: Subject) -> list[tuple[Span, str]]:
    """Spans of a typed signature or unsubscribe text, with what they are ("signature"/"unsubscribe")."""
    text = subject.text
    spans: list[tuple[Span, str]] = []
    if subject.signature:
        view = normalized(text)
        sig = normalized(subject.signature).text
        pattern = re.compile(rf"[{re.escape(_OPENERS)}]\s*{re.escape(sig)}\s*[{re.escape(_CLOSERS)}]")
        spans += [(view.span(*m.span()), "signature") for m in pattern.finditer(view.text)]
    for match in _BRACKETED_SIGNATURE_RE.finditer(text):
        span = (match.start() + len(match.group(0)) - len(match.group(0).lstrip()), match.end())
        span = (span[0], span[0] + len(text[span[0]:span[1]].rstrip()))
        if not _overlaps(span, [s for s, _kind in spans]):
            spans.append((span, "signature"))
    view = compact(text)
    patterns = list(UNSUBSCRIBE_RES)
    configured = compact(length_mod.unsubscribe_suffix()).text
    if configured:
        patterns.append(re.compile(re.escape(configured)))
    for pattern in patterns:
        for match in pattern.finditer(view.text):
            span = view.span(*match.span())
            if not _overlaps(span, [s for s, _kind in spans]):
                spans.append((span, "unsubscribe"))
    return sorted(spans)


def rule_suffix(subject: Subject) -> list[Finding]:
    """TPL-SUFFIX: the merchant must not type the signature or the unsubscribe text."""
    found = []
    for span, what in suffix_spans(subject):
        typed = subject.text[span[0]:span[1]]
        if what == "signature":
            found.append(_finding(
                "TPL-SUFFIX", span,
                _("不要自行填写签名“%(text)s”，系统会在短信开头自动添加签名。") % {"text": typed},
                _("请删除“%(text)s”。") % {"text": typed},
            ))
        else:
            found.append(_finding(
                "TPL-SUFFIX", span,
                _("不要自行填写退订提示“%(text)s”，系统会在营销短信末尾自动添加“%(suffix)s”。")
                % {"text": typed, "suffix": length_mod.unsubscribe_suffix()},
                _("请删除这段退订说明。"),
            ))
    return found


def is_special_symbol(char: str) -> bool:
    if char in ALLOWED_MARKS:
        return False
    category = unicodedata.category(char)
    return not (category in _LETTER_OR_DIGIT or category == "Zs")


# Brackets typed around an obfuscated dot (alice[.]com, taobao(dot)com): part of the link, but
# still symbols the merchant typed, so TPL-SYMBOL reports them although links are masked.
# Likewise half-width brackets around a 汉字 dot word (alice(点)com) are TPL-PUNCT.
LINK_OBFUSCATION_MARKS = set("[]{}【】")
LINK_OBFUSCATION_PUNCT = set("()")


def _obfuscation_marks(subject: Subject, marks: set[str] = LINK_OBFUSCATION_MARKS) -> set[int]:
    text = subject.text
    kept = subject.token_spans + placeholder_spans(subject)
    return {
        i for a, b in link_spans(subject) for i in range(a, b)
        if text[i] in marks and not _inside(i, kept)
    }


def _carve(spans: list[Span], positions: set[int]) -> list[Span]:
    """``spans`` with ``positions`` cut out of them."""
    carved: list[Span] = []
    for a, b in spans:
        start = a
        for i in range(a, b):
            if i in positions:
                if start < i:
                    carved.append((start, i))
                start = i + 1
        if start < b:
            carved.append((start, b))
    return carved


def rule_symbol(subject: Subject, *, masked: list[Span]) -> list[Finding]:
    """TPL-SYMBOL: no special symbols outside the system's variable tokens."""
    text, found = subject.text, []
    shown = _obfuscation_marks(subject)

    def hidden(i: int) -> bool:
        return _inside(i, masked) and i not in shown

    index = 0
    while index < len(text):
        if hidden(index) or not is_special_symbol(text[index]):
            index += 1
            continue
        start = index
        while index < len(text) and not hidden(index) and is_special_symbol(text[index]):
            index += 1
        symbols = text[start:index]
        found.append(_finding(
            "TPL-SYMBOL", (start, index),
            _("含有特殊符号“%(symbols)s”，可能导致短信发送失败。") % {"symbols": _visible(symbols)},
            _("请删除这些符号（如【】{}▽^●★『』、表情符号）；变量请通过“插入变量”添加。"),
        ))
    return found


def _visible(symbols: str) -> str:
    """Invisible characters (control, zero-width, direction marks) named by code point, so the
    merchant can see what to delete."""
    return "".join(char if char.isprintable() else f"U+{ord(char):04X}" for char in symbols)


def _cjk_context(char: str) -> bool:
    return bool(char) and (is_cjk(char) or char in _CJK_CONTEXT)


def _neighbour(text: str, index: int, step: int, tokens_: list[Span]) -> str:
    """The nearest character from ``index`` in direction ``step`` that is not a space or
    half-width punctuation; a variable token counts as 汉字 (variables render into Chinese text)."""
    while 0 <= index < len(text):
        if _inside(index, tokens_):
            return "字"
        if not (text[index].isspace() or text[index] in HALF_WIDTH_PUNCTUATION):
            return text[index]
        index += step
    return ""


def _wrong_punct(text: str, index: int, tokens_: list[Span]) -> bool:
    char = text[index]
    before, after = text[index - 1:index], text[index + 1:index + 2]
    if char in _BETWEEN_DIGITS_OK and before.isdigit() and after.isdigit():
        return False  # 9.9 元, 1,000 件, 10:00
    left = _neighbour(text, index - 1, -1, tokens_)
    right = _neighbour(text, index + 1, 1, tokens_)
    if char == "(":
        return _cjk_context(right)  # judged by what it encloses: 会员(VIP) is fine, (限时) is not
    if char == ")":
        return _cjk_context(left)
    return _cjk_context(left) or _cjk_context(right)


def punct_masked(subject: Subject) -> list[Span]:
    """What TPL-PUNCT never looks at: variables, hand-typed placeholders, links, phone numbers."""
    return subject.token_spans + placeholder_spans(subject) + link_spans(subject) + phone_spans(subject)


def _wrong_runs(subject: Subject, *, masked: list[Span]) -> list[Span]:
    """The runs of half-width marks written next to Chinese text (a decimal point in 9.9 is fine)."""
    text = subject.text
    wrong = [
        char in HALF_WIDTH_PUNCTUATION
        and not _inside(i, masked)
        and _wrong_punct(text, i, subject.token_spans)
        for i, char in enumerate(text)
    ]
    runs: list[Span] = []
    index = 0
    while index < len(text):
        if not wrong[index]:
            index += 1
            continue
        start = index
        while index < len(text) and wrong[index]:
            index += 1
        runs.append((start, index))
    return runs


def rule_punct(subject: Subject, *, masked: list[Span]) -> list[Finding]:
    """TPL-PUNCT: Chinese punctuation next to Chinese text, one finding for the whole text
    listing the marks (every place in ``Finding.spans``)."""
    shown = {
        i for i in _obfuscation_marks(subject, LINK_OBFUSCATION_PUNCT)
        if is_cjk(subject.text[i + 1:i + 2] or " ") or is_cjk(subject.text[i - 1:i] or " ")
    }
    runs = _wrong_runs(subject, masked=_carve(masked, shown) if shown else masked)
    if not runs:
        return []
    text = subject.text
    marks = list(dict.fromkeys(char for a, b in runs for char in text[a:b]))
    listed = "、".join(f"“{char}”" for char in marks)
    fixes = "，".join(
        _("“%(half)s”改为“%(full)s”") % {"half": char, "full": FULL_WIDTH[char]} for char in marks
    )
    count = sum(b - a for a, b in runs)
    return [Finding(
        rule="TPL-PUNCT", start=runs[0][0], end=runs[-1][1], severity="block",
        message=_("中文内容请使用中文标点：有%(count)d处英文（半角）标点 %(marks)s。")
        % {"count": count, "marks": listed},
        hint=_("请改为中文标点（%(fixes)s），或点击“转换为中文标点”一次改好。") % {"fixes": fixes},
        spans=tuple(runs),
    )]


def to_chinese_punctuation(text: str) -> tuple[str, int]:
    """``text`` with every half-width mark TPL-PUNCT would flag replaced by its Chinese mark, and
    how many were replaced. Variables, links, phone numbers and 9.9 / 10:00 stay as they are."""
    subject = Subject(text=text, signature=None, message_class="", specs={}, allowed=set(),
                      use_label="", wordlists=[])
    runs = _wrong_runs(subject, masked=punct_masked(subject))
    chars = list(text)
    for a, b in runs:
        for index in range(a, b):
            chars[index] = FULL_WIDTH[chars[index]]
    return "".join(chars), sum(b - a for a, b in runs)


def message_length(subject: Subject) -> tuple[int, int, int]:
    """(full length with variables at their longest, prefix length, suffix length)."""
    prefix = len(length_mod.signature_prefix(subject.signature))
    suffix = len(length_mod.suffix_for(subject.message_class))
    return prefix + longest_length(text=subject.text, specs=subject.specs) + suffix, prefix, suffix


def rule_length(subject: Subject) -> list[Finding]:
    """TPL-LENGTH: the full message (signature, body at its longest, suffix) ≤ 500 characters."""
    total, prefix, suffix = message_length(subject)
    if total <= length_mod.MAX_MESSAGE_LENGTH:
        return []
    budget = length_mod.MAX_MESSAGE_LENGTH - prefix - suffix
    cut, used, index = len(subject.text), 0, 0
    starts = {t.start: t for t in subject.tokens}
    while index < len(subject.text):
        token = starts.get(index)
        width = subject.specs[token.name].max_length if token and token.name in subject.specs else 1
        step = (token.end - token.start) if token else 1
        if used + width > budget:
            cut = index
            break
        used += width
        index += step
    return [_finding(
        "TPL-LENGTH", (cut, len(subject.text)),
        _("短信总长度%(total)d字（含签名、变量最长内容和退订语），超过%(max)d字上限。")
        % {"total": total, "max": length_mod.MAX_MESSAGE_LENGTH},
        _("请至少删减%(over)d字。") % {"over": total - length_mod.MAX_MESSAGE_LENGTH},
    )]
