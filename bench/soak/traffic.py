"""The soak's merchants and their sends: 3 shops whose customers overlap, overlapping campaigns
in waves (fresh phones each wave, shared between the shops), and replies from handsets.

Every campaign's text names its wave and number, so no two messages to one phone carry the
same text: the SMSC's log of (phone, text) shows a message handed over twice as a repeat.
"""

from __future__ import annotations

import random
import secrets
import string
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection

from campaigns.models import Customer, Message
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.frequency import ruleset_reset_to_defaults
from campaigns.services.inbound import service_number, shop_sender_code
from reviews.services.signatures import signature_approve, signature_submit
from smsmarketing.models import Category, Membership, Shop
from smsmarketing.services import account_activate, account_grant

# The soak's phones: a block of 10 million in 199xxxxxxxx (valid mainland mobile numbers) after
# the benchmarks' blocks, drawn at random per soak, so soaks on one database do not share phones.
PHONE_BASE = 19_990_000_000
SHOPS = 3
SHARE = 0.7  # each shop gets each new phone of a wave with this probability: phones are shared
BALANCE = 10_000_000
UNSUBSCRIBE_REPLIES = ("TD", "退订", "T", "N")
OTHER_REPLIES = ("好的", "谢谢", "收到")
TEXT = "第{wave}波活动{number}号：夏季新品上架，全场满199元减20元，欢迎进店选购。"
# Letters only, no j or d (a "jd" in a signature would carry the platform's brand).
_LETTERS = "".join(c for c in string.ascii_letters if c.lower() not in "jd")


@dataclass
class Traffic:
    rng: random.Random
    shops: list[Shop] = field(default_factory=list)
    owners: list = field(default_factory=list)
    next_phone: int = 0
    waves: int = 0
    campaigns: int = 0
    replies_sent: int = 0
    replies_lost: int = 0  # the app or the SMSC was down at that moment
    unsubscribes_sent: int = 0

    def set_up(self) -> None:
        """3 funded shops with live signatures; the frequency rules at their defaults (what the
        replay at the end models)."""
        ruleset_reset_to_defaults()
        tag = "".join(secrets.choice(_LETTERS) for _ in range(6))
        User = get_user_model()
        reviewer = User.objects.create_user(
            username=f"soak-reviewer-{tag}", password=secrets.token_hex(16), is_staff=True, is_superuser=True
        )
        category = Category.objects.create(name=f"混沌测试-{tag}")
        for index in range(SHOPS):
            owner = User.objects.create_user(
                username=f"soak-owner-{tag}-{index}", password=secrets.token_hex(16)
            )
            shop = Shop.objects.create(name=f"混沌测试店铺{tag}{index}", category=category)
            Membership.objects.create(user=owner, shop=shop)
            account_activate(shop=shop, user=owner, accept_terms=True)
            account_grant(shop_id=shop.pk, units=BALANCE, reason="混沌测试发放", actor=None)
            signature = signature_submit(shop=shop, text=f"Soak{tag}{_LETTERS[index]}", by=owner)
            signature_approve(signature=signature, reviewer=reviewer)
            self.shops.append(shop)
            self.owners.append(owner)
        self.next_phone = PHONE_BASE + secrets.randbelow(999) * 10_000

    def wave(self, *, size: int) -> int:
        """New customers (``size`` fresh phones, each shop taking about 70% of them), then one
        or two campaigns per shop to all its customers, sent now; returns the campaigns started."""
        self.waves += 1
        phones = [str(self.next_phone + i) for i in range(size)]
        self.next_phone += size
        for shop in self.shops:
            mine = [p for p in phones if self.rng.random() < SHARE]
            _add_customers(shop=shop, phones=mine)
        started = 0
        for shop, owner in zip(self.shops, self.owners, strict=True):
            for number in range(1, 1 + self.rng.choice((1, 1, 2))):
                campaign = campaign_create(
                    shop=shop, user=owner, kind="marketing", name=f"混沌第{self.waves}波{number}号",
                    text=TEXT.format(wave=self.waves, number=number),
                )  # fmt: skip
                campaign_schedule(campaign=campaign, user=owner)
                started += 1
        self.campaigns += started
        return started

    def replies(self, stack, *, count: int) -> None:
        """``count`` handsets that got a message reply to its shop; most replies unsubscribe."""
        shop_ids = [s.pk for s in self.shops]
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT shop_id, phone FROM {Message._meta.db_table}
                    WHERE shop_id = ANY(%s) AND sent_at IS NOT NULL
                    ORDER BY md5(id::text || %s) LIMIT %s""",
                [shop_ids, str(self.rng.random()), count],
            )
            targets = cursor.fetchall()
        for shop_id, phone in targets:
            unsubscribe = self.rng.random() < 0.7
            text = self.rng.choice(UNSUBSCRIBE_REPLIES if unsubscribe else OTHER_REPLIES)
            self.replies_sent += 1
            receiver = service_number() + shop_sender_code(shop_id)
            if stack.reply(phone=phone, receiver=receiver, text=text, number=self.replies_sent):
                self.unsubscribes_sent += unsubscribe
            else:
                self.replies_lost += 1


def _add_customers(*, shop: Shop, phones: list[str]) -> None:
    if not phones:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {Customer._meta.db_table}
                    (shop_id, phone, name, tags, purchase_count, total_spent, created_at)
                SELECT %s, p, '客户', ARRAY['VIP'], 1, 100, now() FROM unnest(%s::text[]) AS p
                ON CONFLICT DO NOTHING""",
            [shop.pk, phones],
        )
