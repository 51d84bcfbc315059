"""Time ``check_content`` per template over the labelled corpus, with the seeded and enlarged lists.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sms_<you> \\
        .venv/bin/python manage.py bench_content_check [--rounds 5] [--terms 2000] [--confusables 500]

The texts are every template of ``tests/reviews/corpus/templates_*.jsonl`` plus the official
templates (clean texts and every evasion family). Each text is checked once per round, with the
per-text view caches cleared before every check (a new text, as a submission is), so nothing is
measured warm but what a long-running process keeps warm (compiled lists per version, the
per-character NFKC and pinyin tables). Scenarios:

- ``policy per text``: ``check_content(kind="template", text=...)`` loading the policy
  (published lists, patterns, variables: three queries) for every text, as a single check does;
- ``policy loaded``: the same with the policy loaded once (``policy=``), as ``manage.py
  check_content`` does for all its texts and the findings refresh for a batch: the rules alone;
- ``enlarged``: the policy loaded once with every word list grown to ``--terms`` terms in all
  (synthetic 2–4 character words drawn from the corpus's own characters, so they do hit) and
  ``--confusables`` more rows in the confusables table.

Prints, per scenario, the number of checks, the median and p95 wall time per check, and the mean
CPU time (``time.process_time``: this process only; the database's share is in the wall time of
``policy per text``). Nothing is written to the database.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from reviews import normalization
from reviews.models import OfficialTemplate
from reviews.policy import text as text_views
from reviews.policy.checker import ContentPolicy, check_content, content_policy
from reviews.policy.confusables import Confusables
from reviews.policy.wordlists import CompiledList

CORPUS = Path(settings.BASE_DIR) / "tests" / "reviews" / "corpus"
SEED = 24  # the number: the synthetic lists are the same on every run
LATIN_SHARE = 0.1  # of synthetic terms written in Latin letters


def corpus_texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS.glob("templates_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                texts.append(json.loads(line)["text"])
    texts += list(OfficialTemplate.objects.values_list("text", flat=True))
    return texts


def clear_view_caches() -> None:
    for view in (normalization.normalize, text_views.evasion_view, text_views.compact, text_views.normalized,
                 text_views.digits_view, text_views.link_view):
        view.cache_clear()


def enlarged_policy(
    policy: ContentPolicy, *, texts: list[str], terms: int, confusables: int
) -> ContentPolicy:
    """``policy`` with its word lists grown to ``terms`` terms in all and ``confusables`` more
    table rows, compiled in memory (never published)."""
    rng = random.Random(SEED)
    alphabet = sorted({c for t in texts for c in t if "\u4e00" <= c <= "\u9fff"})
    table = policy.wordlists[0].confusables if policy.wordlists else Confusables.build([], version=0)

    def word() -> str:
        if rng.random() < LATIN_SHARE:
            return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 6)))
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 4)))

    extra_pairs = [(word(), word(), "homophone") for _ in range(confusables)]
    grown_table = Confusables.build([*extra_pairs, *table.pairs], version=table.version + 1)
    current = sum(len(w.terms) for w in policy.wordlists)
    per_list = max(0, terms - current) // max(1, len(policy.wordlists))
    lists = [
        CompiledList.build(
            rule=w.rule, version=w.version, message=w.message, hint=w.hint,
            terms=[*w.terms, *((word(), "block") for _ in range(per_list))], exceptions=w.exceptions,
            confusables=grown_table,
        )
        for w in policy.wordlists
    ]
    return ContentPolicy(specs=policy.specs, wordlists=lists, patterns=policy.patterns)


class Command(BaseCommand):
    help = "Median and p95 time of check_content per template over the corpus (seeded and enlarged lists)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--terms", type=int, default=2000, help="terms in all lists together (enlarged)")
        parser.add_argument("--confusables", type=int, default=500, help="rows added to the table (enlarged)")

    def handle(self, *args, **options) -> None:
        texts = corpus_texts()
        policy = content_policy()
        grown = enlarged_policy(
            policy, texts=texts, terms=options["terms"], confusables=options["confusables"]
        )
        terms = [sum(len(w.terms) for w in p.wordlists) for p in (policy, grown)]
        pairs = [len(p.wordlists[0].confusables.pairs) if p.wordlists else 0 for p in (policy, grown)]
        self.stdout.write(
            f"{len(texts)} templates x {options['rounds']} rounds; terms {terms[0]} seeded, "
            f"{terms[1]} enlarged; confusables {pairs[0]} seeded, {pairs[1]} enlarged"
        )
        scenarios = {
            "policy per text": lambda t: check_content(kind="template", text=t),
            "policy loaded": lambda t: check_content(kind="template", text=t, policy=policy),
            "enlarged": lambda t: check_content(kind="template", text=t, policy=grown),
        }
        for run in scenarios.values():  # warm-up: compile, fill the per-character tables
            for text in texts:
                run(text)
        self.stdout.write(f"{'scenario':<18}{'checks':>8}{'median ms':>12}{'p95 ms':>10}{'CPU ms':>10}")
        for name, run in scenarios.items():
            walls, cpu = [], 0.0
            for _round in range(options["rounds"]):
                for text in texts:
                    clear_view_caches()
                    cpu_start, wall_start = time.process_time(), time.perf_counter()
                    run(text)
                    walls.append(time.perf_counter() - wall_start)
                    cpu += time.process_time() - cpu_start
            walls.sort()
            p95 = walls[int(len(walls) * 0.95) - 1]
            self.stdout.write(
                f"{name:<18}{len(walls):>8}{statistics.median(walls) * 1000:>12.3f}{p95 * 1000:>10.3f}"
                f"{cpu / len(walls) * 1000:>10.3f}"
            )
