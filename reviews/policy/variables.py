"""Template variables: ``${name}`` tokens, their definitions (data) and rendering.

Merchants never type tokens: the editor's picker inserts them. The set of
variables is the ``TemplateVariable`` table (seeded by a data migration,
editable in the admin); ``variable_specs`` reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from reviews.models.policy import TemplateVariable
from smsmarketing.errors import SmsError

# A well-formed token as the picker inserts it.
TOKEN_RE = re.compile(r"\$\{([^{}\s$]{0,40})\}")
# Things that look like a placeholder typed by hand: {0}, {name}, {{name}}, ${ name }, #name#.
PLACEHOLDER_LIKE_RE = re.compile(r"\$?\{\{?\s*[A-Za-z0-9_.]{0,30}\s*\}?\}|#[A-Za-z_][A-Za-z0-9_]{0,30}#")


@dataclass(frozen=True)
class VariableSpec:
    name: str
    label: str
    type: str
    example: str
    max_length: int
    uses: frozenset[str]

    @property
    def token(self) -> str:
        return "${" + self.name + "}"


@dataclass(frozen=True)
class Token:
    name: str
    start: int
    end: int


def tokens(text: str) -> list[Token]:
    """The well-formed ``${name}`` tokens of a text, in order."""
    return [Token(m.group(1), m.start(), m.end()) for m in TOKEN_RE.finditer(text)]


def variable_specs(*, use: str | None = None) -> dict[str, VariableSpec]:
    """Active variables by name (only those allowed for ``use`` if given), in picker order."""
    specs = {}
    for variable in TemplateVariable.objects.filter(active=True).order_by("position", "name"):
        spec = VariableSpec(
            name=variable.name, label=variable.label, type=variable.type, example=variable.example,
            max_length=variable.max_length, uses=frozenset(variable.uses),
        )
        if use is None or use in spec.uses:
            specs[spec.name] = spec
    return specs


class VariableMissing(SmsError):
    rule = "TPL-VARIABLE"


# A rendered value that is a link: a phone's link detection would run it into the text after it.
LINK_VALUE_RE = re.compile(r"(?:https?://|www\.)", re.IGNORECASE)


def _fill(text: str, value_of) -> str:
    """``text`` with each token replaced by ``value_of(match)``. A link value not already followed
    by whitespace gets one space after it, also at the end of the text: a phone's link detection
    stops there instead of running into the text after it (``点击https://3.cn/s1 领取``) or into
    the unsubscribe suffix the message ends with (``…/s1 拒收请回复R``)."""
    pieces: list[str] = []
    last = 0
    for match in TOKEN_RE.finditer(text):
        value = str(value_of(match))
        pieces += [text[last:match.start()], value]
        following = text[match.end():match.end() + 1]
        if not following.isspace() and LINK_VALUE_RE.match(value):
            pieces.append(" ")
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


def render(*, text: str, values: dict[str, str]) -> str:
    """Replace every ``${name}`` token with ``values[name]`` (a link value gets a space after it).

    Raises ``VariableMissing`` (rule TPL-VARIABLE) if a token has no value, so a
    message is never sent with a raw token in it. Values are inserted as given:
    the caller keeps them within the variable's ``max_length``.
    """

    def value_of(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise VariableMissing(_("变量“%(token)s”没有可用的值。") % {"token": match.group(0)})
        return str(values[name])

    return _fill(text, value_of)


def render_examples(
    *, text: str, specs: dict[str, VariableSpec], values: dict[str, str] | None = None
) -> str:
    """The text with every known variable filled with its example value (for previews);
    ``values`` overrides examples (the viewing shop's own name instead of the example shop's)."""
    examples = {name: spec.example for name, spec in specs.items()} | (values or {})
    return _fill(text, lambda m: examples.get(m.group(1), m.group(0)))


def readable(*, text: str, specs: dict[str, VariableSpec]) -> str:
    """The text as a person reads it: each known token as 「label」 (plain text, for one-line
    summaries where chips cannot be drawn)."""

    def label(match: re.Match) -> str:
        spec = specs.get(match.group(1))
        return f"「{spec.label}」" if spec is not None else match.group(0)

    return TOKEN_RE.sub(label, text)


def link_needs_space(*, text: str, token: Token, specs: dict[str, VariableSpec]) -> bool:
    """True when ``token`` renders a link not followed by whitespace (``render`` adds a space)."""
    spec = specs.get(token.name)
    return spec is not None and spec.type == "link" and not text[token.end:token.end + 1].isspace()


def longest_length(*, text: str, specs: dict[str, VariableSpec]) -> int:
    """Length of the text with every known variable at its maximum rendered length (and the
    space ``render`` puts after a link).

    An unknown token counts with its own characters (it is a TPL-VARIABLE finding anyway).
    """
    length = len(text)
    for token in tokens(text):
        spec = specs.get(token.name)
        if spec is not None:
            length += spec.max_length - (token.end - token.start)
            length += link_needs_space(text=text, token=token, specs=specs)
    return length
