"""Replay send events through the frequency service and print its decisions."""

from __future__ import annotations

import json
import sys
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from campaigns.services.frequency import ReplayError, frequency_replay, replay_event_parse


class Command(BaseCommand):
    help = (
        "Replay JSON-lines events {at, shop, phone, class[, outcome: failed]} through the frequency "
        "service on an empty history with the default rules (rolled back afterwards); print one "
        'JSON object {"allowed": bool, "reason": id or null} per event.'
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="JSON lines file, one event per line ('-' for stdin)")
        parser.add_argument(
            "--json",
            action="store_true",
            help="machine output only: the JSON lines, without the summary on stderr",
        )

    def handle(self, *args, **options) -> None:
        try:
            lines = self._read(options["file"])
            events = [
                replay_event_parse(line, line_number=number)
                for number, line in enumerate(lines, start=1)
                if line.strip()
            ]
        except ReplayError as exc:
            raise CommandError(str(exc)) from None
        decisions = frequency_replay(events=events)
        for decision in decisions:
            self.stdout.write(json.dumps({"allowed": decision.allowed, "reason": decision.reason}))
        if not options["json"]:
            reasons = Counter(decision.reason or "allowed" for decision in decisions)
            summary = ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items()))
            self.stderr.write(f"{len(decisions)} events replayed ({summary}); nothing was kept.")

    def _read(self, path: str) -> list[str]:
        if path == "-":
            return sys.stdin.read().splitlines()
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().splitlines()
        except OSError as exc:
            raise CommandError(f"无法读取文件 {path}：{exc.strerror}") from None
