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


def render(*, text: str, values: dict[str, str]) -> str:
    """Replace every ``${name}`` token with ``values[name]``.

    Raises ``VariableMissing`` (rule TPL-VARIABLE) if a token has no value, so a
    message is never sent with a raw token in it. Values are inserted as given:
    the caller keeps them within the variable's ``max_length``.
    """

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise VariableMissing(_("变量“%(token)s”没有可用的值。") % {"token": match.group(0)})
        return str(values[name])

    return TOKEN_RE.sub(replace, text)


def render_examples(*, text: str, specs: dict[str, VariableSpec]) -> str:
    """The text with every known variable filled with its example value (for previews)."""
    values = {name: spec.example for name, spec in specs.items()}
    return TOKEN_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def longest_length(*, text: str, specs: dict[str, VariableSpec]) -> int:
    """Length of the text with every known variable at its maximum rendered length.

    An unknown token counts with its own characters (it is a TPL-VARIABLE finding anyway).
    """
    length = len(text)
    for token in tokens(text):
        spec = specs.get(token.name)
        if spec is not None:
            length += spec.max_length - (token.end - token.start)
    return length
