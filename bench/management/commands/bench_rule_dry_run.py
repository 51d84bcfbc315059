"""Time the dry run a second reviewer waits for on a rule proposal's page.

    DJANGO_SETTINGS_MODULE=smsmarketing.settings_bench \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sms_<you> \\
        .venv/bin/python manage.py bench_rule_dry_run [--reviewed 10000] [--pending 200] [--rounds 3]

Inside one transaction that is rolled back at the end (nothing stays in the database), it writes
``--reviewed`` decided and ``--pending`` pending custom templates (texts drawn from the labelled
corpus, ``tests/reviews/corpus/templates_*.jsonl``, each made unique with a number), files one
proposal of each kind (a term, a confusable, a pattern) and runs ``proposal_dry_run`` on each
``--rounds`` times. Prints, per kind, the items read, how many the change would flag, and the
median and maximum wall time per dry run.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from reviews.models import MessageTemplate, RuleProposal
from reviews.models.review import ReviewState
from reviews.services.proposals import DRY_RUN_REVIEWED, proposal_dry_run
from smsmarketing.models import Category, Shop

CORPUS = Path(settings.BASE_DIR) / "tests" / "reviews" / "corpus"
TRICK = "下单后加绿泡泡：shop888，领卫心福利，晒图拍视频发客服拿惊喜。"


def _state(index: int, decided: bool) -> str:
    if not decided:
        return ReviewState.PENDING
    return ReviewState.APPROVED if index % 3 else ReviewState.REJECTED


class Rollback(Exception):
    """Raised to roll the benchmark's rows back."""


def corpus_texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS.glob("templates_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                texts.append(json.loads(line)["text"])
    return texts


class Command(BaseCommand):
    help = "Time the rule proposals' dry run over pending and recently reviewed templates (rolled back)."

    def add_arguments(self, parser):
        parser.add_argument("--reviewed", type=int, default=DRY_RUN_REVIEWED)
        parser.add_argument("--pending", type=int, default=200)
        parser.add_argument("--rounds", type=int, default=3)

    def handle(self, *args, reviewed: int, pending: int, rounds: int, **options):
        try:
            with transaction.atomic():
                self._run(reviewed=reviewed, pending=pending, rounds=rounds)
                raise Rollback
        except Rollback:
            pass

    def _run(self, *, reviewed: int, pending: int, rounds: int) -> None:
        texts = corpus_texts()
        category = Category.objects.filter(restricted=False).order_by("id").first()
        category = category or Category.objects.create(name="基准测试类目")
        shop = Shop.objects.create(name="基准测试店铺", category=category)
        now = timezone.now()
        rows = []
        for i in range(reviewed + pending):
            decided = i < reviewed
            # Every text unique (no per-text cache helps), the trick among both reviewed and pending.
            text = TRICK if i % 50 == 0 or i == reviewed else texts[i % len(texts)]
            text = f"{text}编号{i}"
            rows.append(
                MessageTemplate(
                    shop=shop,
                    name=f"基准{i}",
                    text=text,
                    state=_state(i, decided),
                    submitted_at=now - timedelta(minutes=i + 10),
                    due_at=now + timedelta(days=3),
                    decided_at=now - timedelta(minutes=i) if decided else None,
                )
            )
        MessageTemplate.objects.bulk_create(rows, batch_size=2000)
        source = MessageTemplate.objects.filter(shop=shop, text__startswith=TRICK).first()
        proposer = get_user_model().objects.create(username="bench-proposer")
        kinds = {
            "term": {"text": "绿泡泡", "canonical": ""},
            "confusable": {"text": "卫心", "canonical": "微信"},
            "pattern": {"text": "拍视频", "canonical": "惊喜", "max_gap": 8},
        }
        self.stdout.write(
            f"dry run over {pending} pending + {reviewed} reviewed templates ({len(texts)} corpus texts), "
            f"{rounds} rounds"
        )
        for kind, fields in kinds.items():
            start = TRICK.index(fields["text"])
            proposal = RuleProposal.objects.create(
                kind=kind,
                rule="TPL-REVIEW-BAIT" if kind == "pattern" else "TPL-OFFSITE",
                item_kind="template",
                item_id=source.pk,
                item_text=TRICK,
                span_start=start,
                span_end=start + len(fields["text"]),
                proposed_by=proposer,
                **fields,
            )
            times = []
            for _ in range(rounds):
                began = time.perf_counter()
                run = proposal_dry_run(proposal)
                times.append(time.perf_counter() - began)
            self.stdout.write(
                f"{kind:<11} read {run.pending_total} pending + {run.reviewed_total} reviewed, "
                f"flags {run.pending_flagged} + {run.reviewed_flagged} "
                f"({run.reviewed_approved_flagged} approved): "
                f"median {statistics.median(times):.2f} s, max {max(times):.2f} s"
            )
