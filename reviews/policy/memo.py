"""A per-page memo of policy data (word lists, variables, neutral names, brand terms, live
signatures) for pages that check many items at once.

The review queue shows each row's findings recomputed with today's lists; without a memo,
every row reloaded the same lists (N+1 queries, tests/perf/test_query_counts.py). Inside
``policy_memo()`` each loader runs once per key; outside it nothing is cached, so services
and the send pipeline always read fresh data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")
_memo: ContextVar[dict | None] = ContextVar("reviews_policy_memo", default=None)


@contextmanager
def policy_memo() -> Iterator[dict]:
    token = _memo.set({})
    try:
        yield _memo.get()
    finally:
        _memo.reset(token)


def memoised(key: tuple, load: Callable[[], T]) -> T:
    """``load()``, or its memoised value for ``key`` inside ``policy_memo()``."""
    memo = _memo.get()
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


def prime(key: tuple, value: object) -> None:
    """Store a value loaded in bulk (e.g. the live signatures of a page's shops)."""
    memo = _memo.get()
    if memo is not None:
        memo[key] = value
