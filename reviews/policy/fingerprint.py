"""Fingerprints of everything an item's automatic findings depend on.

A pending item's findings are a function of its own (immutable) text and of data that changes:
the published word lists, the template variables, the neutral names and brand terms, the shop's
live signature, other shops' signatures, and the rules' code. The review queue shows the
findings stored with a fingerprint of those inputs (``ReviewedItem.checked_findings`` /
``checked_key``) while the fingerprint computed now is the same, and recomputes them when it is
not: a stored finding is never shown against a policy it was not computed with.

Each ``*_policy_key`` is loaded once per page inside ``policy_memo()`` (one query or two).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache

from reviews.policy.memo import memoised

# The modules whose code decides findings: a deploy that changes any of them changes every key.
_RULE_MODULES = (
    "reviews.policy.checker",
    "reviews.policy.rules",
    "reviews.policy.wordlists",
    "reviews.policy.length",
    "reviews.policy.text",
    "reviews.policy.variables",
    "reviews.normalization",
    "reviews.signature_rules",
    "reviews.findings",
)


@cache
def rules_code_key() -> str:
    """A digest of the rules' source files (once per process)."""
    import importlib

    digest = hashlib.sha1()
    for name in _RULE_MODULES:
        with open(importlib.import_module(name).__file__, "rb") as source:
            digest.update(source.read())
    return digest.hexdigest()


def findings_key(*parts: object) -> str:
    """A 40-character digest of the rules' code and ``parts`` (texts, or JSON-able values).
    Texts are hashed as they are (the queue computes one key per row: no JSON for them)."""
    digest = hashlib.sha1(rules_code_key().encode())
    for part in parts:
        if isinstance(part, str):
            digest.update(b"\x1es")
            digest.update(part.encode())
        else:
            digest.update(b"\x1ej")
            digest.update(json.dumps(part, ensure_ascii=False, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def content_policy_key() -> str:
    """Word lists (versions, messages, hints) and active template variables: the inputs of
    ``check_content`` besides the text and the signature."""
    return memoised(("content_policy_key",), _content_policy_key)


def _content_policy_key() -> str:
    from django.db import connection

    from reviews.models.policy import WordList
    from reviews.policy.variables import variable_specs

    # Written by hand: the ORM's compile was most of this query's cost (a queue page computes
    # this key once; tests/reviews/test_stored_findings.py compares it with the ORM's rows).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, rule, version, message, hint, updated_at FROM {WordList._meta.db_table} ORDER BY id"
        )
        lists = [tuple(row) for row in cursor.fetchall()]
    specs = [
        [s.name, s.label, s.type, s.example, s.max_length, sorted(s.uses)] for s in variable_specs().values()
    ]
    return findings_key("content", lists, specs)


def signature_policy_key() -> str:
    """Active neutral names and platform brand terms: the inputs of ``signature_findings``
    besides the text and the other shops' signatures."""
    return memoised(("signature_policy_key",), _signature_policy_key)


def _signature_policy_key() -> str:
    from reviews.models.signatures import NeutralName, PlatformBrandTerm

    neutral = memoised(("neutral_names",), lambda: list(NeutralName.objects.filter(active=True)))
    brand = memoised(("brand_terms",), lambda: list(PlatformBrandTerm.objects.filter(active=True)))
    return findings_key(
        "signature",
        sorted([n.term, n.match] for n in neutral),
        sorted(b.term for b in brand),
    )
