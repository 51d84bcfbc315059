"""Fingerprints of everything a pending item's automatic findings depend on.

A pending item's findings are a function of its own (immutable) text, of data that changes (the
published word lists, the template variables, the neutral names and brand terms, the shop's live
signature) and of the rules' code. Each item stores its findings with the fingerprint of those
inputs (``ReviewedItem.checked_findings`` / ``checked_key``); the refresh task
(``reviews.tasks.refresh_findings``) recomputes the rows whose fingerprint is no longer today's.

The rules' code enters as ``RULES_VERSION``: bump it in the same commit as any change to a rule
(``reviews.policy``, ``reviews.signature_rules``, ``reviews.normalization``) that can change what
it finds, so the next refresh recomputes every pending item.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from reviews.models.signatures import NeutralName, PlatformBrandTerm
from reviews.policy.checker import ContentPolicy
from reviews.policy.confusables import Confusables, published_confusables

# 2: TPL-PUNCT grouped into one finding; the space after a link counted
# 3: evasion-resistant matching (confusables, pinyin, separators, obfuscated links and numbers);
#    SIG-CHARSET on the text as typed
RULES_VERSION = 3


def findings_key(*parts: object) -> str:
    """A 40-character digest of ``RULES_VERSION`` and ``parts`` (JSON-able values)."""
    data = json.dumps([RULES_VERSION, *parts], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha1(data.encode()).hexdigest()  # noqa: S324 - a fingerprint, not a secret


def template_findings_key(
    *, policy: ContentPolicy, signature: str | None, text: str, use: str, message_class: str
) -> str:
    """The fingerprint of ``check_content`` for a template: the policy's word lists (version,
    message, hint) and variables, the shop's live signature, the template's own fields."""
    lists = [
        [w.rule, w.version, w.message, w.hint, w.confusables.version] for w in policy.wordlists
    ]
    lists += [["pattern", p.pattern_id, p.version] for p in policy.patterns]
    specs = [
        [s.name, s.label, s.type, s.example, s.max_length, sorted(s.uses)] for s in policy.specs.values()
    ]
    return findings_key("template", lists, specs, signature, text, use, message_class)


def signature_findings_key(
    *, neutral_names: Iterable[NeutralName], brand_terms: Iterable[PlatformBrandTerm], text: str,
    confusables: Confusables | None = None,
) -> str:
    """The fingerprint of ``signature_findings`` for a pending signature: the active neutral
    names and brand terms, the confusables table's version, and the text. Other shops'
    signatures are not an input: while this one is pending no other shop can hold the same text
    (``signature_normalized_in_use_unique``), so SIG-DUPLICATE cannot appear later."""
    neutral = sorted([n.term, n.match] for n in neutral_names)
    brand = sorted(b.term for b in brand_terms)
    table = published_confusables() if confusables is None else confusables
    return findings_key("signature", neutral, brand, table.version, text)
