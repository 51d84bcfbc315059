"""One soak from start to report (``manage.py soak`` is its adapter).

1. The database is migrated; the clock offset is chosen so the whole soak falls in the marketing
   window (08:00-21:00 Asia/Shanghai): 0 when it does already, else a shift to 09:00.
2. The stack starts (``bench.soak.stack``); 3 shops are set up (``bench.soak.traffic``).
3. For ``minutes``: a wave of campaigns every 30-50 s, a few replies every 5 s, and a fault
   every 20-60 s (``bench.soak.faults``), everything drawn from the seed.
4. Drain: wait until every run is over and the delivery reports stopped coming; stop the stack;
   settle; check (``bench.soak.checks``) and print the report. Violations make it exit 1.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import time_machine
from django.core.management import call_command
from django.utils import timezone

from bench.soak import checks
from bench.soak.faults import KANNEL_ONLY, KINDS, Fault, Replayed, fault_plan, inject
from bench.soak.stack import Stack, StackError
from bench.soak.traffic import Traffic
from campaigns.models import CampaignRun, Message
from campaigns.services.delivery import delivery_settle
from campaigns.services.frequency import LOCAL_TZ, MARKETING_WINDOW_CLOSES, MARKETING_WINDOW_OPENS

WAVE_EVERY = (30.0, 50.0)
WAVE_SIZE = 300  # fresh phones per wave, shared by the shops
REPLY_EVERY = 5.0
REPLIES = 2
# Room after the soak's minutes for the drain, kept inside the marketing window too.
DRAIN_ROOM = timedelta(minutes=30)


@dataclass
class Options:
    minutes: float
    seed: int
    gateway: str
    clusters: int = 2
    q_workers: int = 2
    web_workers: int = 2
    dispatch_rate: int = 10
    fail_ratio: float = 0.1
    max_gap: float = 60.0
    drain_timeout: float = 900.0
    keep: Path | None = None


@dataclass
class Soak:
    options: Options
    out: object  # a writer with .write(str)
    faults: list[Fault] = field(default_factory=list)
    replayed: Replayed = field(default_factory=Replayed)
    restarts_unplanned: list[str] = field(default_factory=list)
    restarts_failed: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()  # progress shows as it happens, also when redirected to a file

    def run(self) -> bool:
        options = self.options
        call_command("migrate", verbosity=0, interactive=False)
        offset = clock_offset(minutes=options.minutes)
        folder = options.keep or Path(tempfile.mkdtemp(prefix="soak-"))
        folder.mkdir(parents=True, exist_ok=True)
        rng = random.Random(options.seed)
        kinds = [k for k in KINDS if options.gateway == "kannel" or k not in KANNEL_ONLY]
        plan = fault_plan(
            rng=random.Random(f"faults-{options.seed}"), seconds=options.minutes * 60, kinds=kinds
        )
        with time_machine.travel(time.time() + offset, tick=True) if offset else contextlib.nullcontext():
            self.say(
                f"soak: seed {options.seed}, {options.minutes:g} min, gateway {options.gateway}, "
                f"{options.clusters} clusters of {options.q_workers} workers, clock offset {offset:+.0f} s "
                f"(soak time {timezone.localtime(timezone.now(), LOCAL_TZ):%Y-%m-%d %H:%M}), "
                f"{len(plan)} faults planned; logs in {folder}"
            )
            stack = Stack(
                gateway=options.gateway, offset=offset, folder=folder, clusters=options.clusters,
                q_workers=options.q_workers, web_workers=options.web_workers,
                dispatch_rate=options.dispatch_rate, fail_ratio=options.fail_ratio,
            )  # fmt: skip
            traffic = Traffic(rng=rng)
            try:
                stack.start()
                traffic.set_up()
                self._load(stack=stack, traffic=traffic, plan=plan, rng=rng)
                drained = self._drain(traffic=traffic)
                handed_over = stack.handed_over()  # the gateway side's log, before it stops
            finally:
                stack.stop()
            delivery_settle()
            passed = self._report(traffic=traffic, drained=drained, handed_over=handed_over)
        if passed and options.keep is None:
            shutil.rmtree(folder, ignore_errors=True)  # the logs of a failed soak stay, for reading
        return passed

    def _load(self, *, stack: Stack, traffic: Traffic, plan, rng: random.Random) -> None:
        started = time.monotonic()
        end = started + self.options.minutes * 60
        next_wave, next_reply = started, started + REPLY_EVERY
        pending = list(plan)
        while (now := time.monotonic()) < end:
            if now >= next_wave:
                traffic.wave(size=WAVE_SIZE)
                next_wave = now + rng.uniform(*WAVE_EVERY)
            if now >= next_reply:
                traffic.replies(stack, count=REPLIES)
                next_reply = now + REPLY_EVERY
            if pending and now - started >= pending[0][0]:
                _, kind = pending.pop(0)
                try:
                    fault = inject(kind=kind, stack=stack, rng=rng, replayed=self.replayed)
                except StackError as exc:  # a restart that failed is a finding; the soak goes on
                    self.restarts_failed.append(f"{kind}: {exc}")
                    self.say(f"  {_clock(now - started)} fault {len(self.faults) + 1}: {kind}: {exc}")
                    continue
                self.faults.append(fault)
                self.say(
                    f"  {_clock(now - started)} fault {len(self.faults)}: {kind}"
                    f"{' (' + fault.detail + ')' if fault.detail else ''}, {fault.backlog:,} due; "
                    f"restarted in {fault.recovered_in:.1f} s"
                )
            self._watch(stack)
            time.sleep(0.2)

    def _watch(self, stack: Stack) -> None:
        """A process that ended without a fault is a finding; it is started again."""
        for index, process in enumerate(stack.clusters):
            if process is not None and process.poll() is not None:
                self.restarts_unplanned.append(f"cluster {index + 1} exited with {process.returncode}")
                stack.start_cluster(index)
        if stack.gunicorn is not None and stack.gunicorn.poll() is not None:
            self.restarts_unplanned.append(f"gunicorn exited with {stack.gunicorn.returncode}")
            try:
                stack.start_gunicorn()
            except StackError as exc:
                self.restarts_failed.append(f"gunicorn: {exc}")
        if stack.kannel_env is not None and not stack.kannel_alive():
            self.restarts_unplanned.append("a Kannel box ended")
            stack.stop_kannel()
            try:
                stack.start_kannel()
            except StackError as exc:
                self.restarts_failed.append(f"kannel: {exc}")

    def _drain(self, *, traffic: Traffic) -> bool:
        """Wait for every run to finish, then for the reports to stop coming; False on timeout."""
        self.say(f"drain: waiting for the runs of {traffic.campaigns} campaigns to finish")
        deadline = time.monotonic() + self.options.drain_timeout
        open_runs = CampaignRun.objects.exclude(
            status__in=[CampaignRun.Status.FINISHED, CampaignRun.Status.CANCELLED]
        )
        while open_runs.exists():
            if time.monotonic() > deadline:
                self.say(f"drain: {open_runs.count()} runs open after {self.options.drain_timeout:.0f} s")
                return False
            time.sleep(1)
        in_flight = Message.objects.filter(status__in=[Message.Status.SENDING, Message.Status.ACCEPTED])
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < 20:
            count = in_flight.count()
            if count == 0:
                break
            if count != last:
                last, since = count, time.monotonic()
            time.sleep(1)
        return True

    def _report(self, *, traffic: Traffic, drained: bool, handed_over: list) -> bool:
        shop_ids = [shop.pk for shop in traffic.shops]
        results = [
            checks.caps(shop_ids=shop_ids),
            checks.duplicate_rows(shop_ids=shop_ids),
            checks.handovers(gateway=self.options.gateway, handed_over=handed_over, shop_ids=shop_ids),
            checks.ledger(),
            checks.counters(),
            checks.statistics(shop_ids=shop_ids),
            checks.optouts(shop_ids=shop_ids),
            checks.replays(self.replayed),
        ]
        gap_check, gaps = checks.gaps(faults=self.faults, shop_ids=shop_ids, limit=self.options.max_gap)
        results.append(gap_check)
        results.append(checks.Check("every run finished", drained, "yes" if drained else "drain timed out"))
        results.append(checks.Check(
            "every restart succeeded", not self.restarts_failed, "; ".join(self.restarts_failed) or "yes"
        ))  # fmt: skip
        statuses = checks.outcome_counts(shop_ids=shop_ids)
        kinds = Counter(f.kind for f in self.faults)
        self.say("faults: " + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none")
                 + f" ({len(self.faults)} in all)")  # fmt: skip
        for number, (fault, gap) in enumerate(zip(self.faults, gaps, strict=True), 1):
            shown = "nothing due" if gap is None else f"next hand-over after {gap:.1f} s"
            self.say(f"  fault {number:>2} {fault.kind:<19} {fault.backlog:>6,} due  {shown}")
        handed = sum(n for s, n in statuses.items() if s not in ("planned", "suppressed", "dropped"))
        self.say(
            f"traffic: {traffic.waves} waves, {traffic.campaigns} campaigns, "
            f"{sum(statuses.values()):,} message rows, {handed:,} handed over "
            f"({', '.join(f'{s} {n:,}' for s, n in sorted(statuses.items()))})"
        )
        suppressed = checks.suppressed_counts(shop_ids=shop_ids)
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(suppressed.items()))
        self.say(f"suppressed or dropped: {reasons or 'none'}")
        self.say(
            f"replies: {traffic.replies_sent} sent ({traffic.unsubscribes_sent} unsubscribes, "
            f"{traffic.replies_lost} not taken while the app or the SMSC restarted)"
        )
        if self.restarts_unplanned:
            self.say("processes that ended by themselves (restarted): " + "; ".join(self.restarts_unplanned))
        self.say("checks:")
        for check in results:
            self.say(check.line())
        violations = sum(not c.ok for c in results)
        self.say(f"result: {violations} violation{'s' if violations != 1 else ''}")
        return violations == 0


def clock_offset(*, minutes: float, now: datetime | None = None) -> float:
    """Seconds to add to the clock so that the soak and its drain fall in the marketing window:
    0 if they do already, else the shift to the next 09:00 in Asia/Shanghai."""
    now = now or timezone.now()
    local = now.astimezone(LOCAL_TZ)
    end = local + timedelta(minutes=minutes) + DRAIN_ROOM
    opens = datetime.combine(local.date(), MARKETING_WINDOW_OPENS, tzinfo=LOCAL_TZ)
    closes = datetime.combine(local.date(), MARKETING_WINDOW_CLOSES, tzinfo=LOCAL_TZ)
    if opens <= local and end <= closes:
        return 0.0
    day = local.date() if local < opens else local.date() + timedelta(days=1)
    target = datetime.combine(day, MARKETING_WINDOW_OPENS, tzinfo=LOCAL_TZ) + timedelta(hours=1)
    return (target - now).total_seconds()


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"
