"""Last-touch attribution of orders to messages, per shop, set-based in SQL.

An order is attributed to the shop's message to the order's phone with the most recent touch
at or before ``placed_at``, where a touch is

- a human click (``Click.human``) of the message within ``SMS_ATTRIBUTION_CLICK_WINDOW``
  (5 days) before the order, or
- the message's delivery (status ``delivered``, at ``final_at``: the time the carrier
  reported) within ``SMS_ATTRIBUTION_DELIVERY_WINDOW`` (24 hours) before the order.

The latest touch wins; at the same instant a click beats a delivery, then the later message.
Test SMS (runs of kind ``test``) are never touches. An order has at most one message
(``Order.attributed_*``, empty when no touch qualifies).

When it is computed: for every batch at ingest (``campaigns.services.orders``), and again by
``orders_reattribute`` for the orders placed since a time: a touch recorded after its order
was ingested (a delivery report that arrives late, a click written after the import) changes
those orders' attribution only then. ``campaign_report`` re-attributes the campaign's shop's
orders since the campaign's first run before it reads them, and the ``reattribute-orders``
schedule (hourly) the orders of every shop placed within ``REATTRIBUTE_LOOKBACK``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from campaigns.models.links import Click
from campaigns.models.orders import Order
from campaigns.models.sending import CampaignRun, Message

# How far back the hourly re-attribution looks: a delivery report may arrive up to the
# pipeline's 72-hour sweep after its message was sent, and it can move orders placed within the
# delivery window after it; a click is recorded at once. 4 days covers both with room.
REATTRIBUTE_LOOKBACK = timedelta(days=4)


def attribution_windows() -> dict[str, timedelta]:
    """The platform's windows (settings), shown on the campaign's results."""
    return {
        "click": settings.SMS_ATTRIBUTION_CLICK_WINDOW,
        "delivery": settings.SMS_ATTRIBUTION_DELIVERY_WINDOW,
    }


def _attribute_sql(where: str) -> str:
    order, click, message, run = (
        Order._meta.db_table,
        Click._meta.db_table,
        Message._meta.db_table,
        CampaignRun._meta.db_table,
    )
    # Each branch reads one index range (click_human_touch, message_delivered_touch), newest
    # first, and stops at the first touch of a real (audience) run.
    return f"""
        WITH target AS (SELECT o.id, o.shop_id, o.phone, o.placed_at FROM {order} o WHERE {where}),
        best AS (
            SELECT t.id, t.phone, t.placed_at, touch.message_id, touch.campaign_id, touch.kind, touch.at
            FROM target t LEFT JOIN LATERAL (
                SELECT * FROM (
                    (SELECT k.message_id, k.campaign_id, 'click'::text AS kind, k.at, 1 AS rank
                     FROM {click} k JOIN {message} m ON m.id = k.message_id
                                    JOIN {run} r ON r.id = m.run_id AND r.kind = 'audience'
                     WHERE k.shop_id = t.shop_id AND k.phone = t.phone AND k.human
                       AND k.at <= t.placed_at AND k.at >= t.placed_at - %(click)s
                     ORDER BY k.at DESC, k.message_id DESC LIMIT 1)
                    UNION ALL
                    (SELECT m.id, m.campaign_id, 'delivery'::text, m.final_at, 0
                     FROM {message} m JOIN {run} r ON r.id = m.run_id AND r.kind = 'audience'
                     WHERE m.shop_id = t.shop_id AND m.phone = t.phone AND m.status = 'delivered'
                       AND m.final_at <= t.placed_at AND m.final_at >= t.placed_at - %(delivery)s
                     ORDER BY m.final_at DESC, m.id DESC LIMIT 1)
                ) c ORDER BY c.at DESC, c.rank DESC, c.message_id DESC LIMIT 1
            ) touch ON true
        )
        UPDATE {order} o SET attributed_message_id = b.message_id, attributed_campaign_id = b.campaign_id,
                             attributed_touch = coalesce(b.kind, ''), attributed_touch_at = b.at
        FROM best b
        WHERE o.id = b.id
          -- Race: the order updated (another phone or time) by a concurrent ingest after this
          -- statement read it: the re-check of the locked row skips it; that ingest attributes it.
          AND o.phone = b.phone AND o.placed_at = b.placed_at
          AND (o.attributed_message_id, o.attributed_touch, o.attributed_touch_at)
              IS DISTINCT FROM (b.message_id, coalesce(b.kind, ''), b.at)"""


def orders_attribute(*, order_ids: list[int]) -> int:
    """Attribute these orders (last touch); returns how many changed."""
    if not order_ids:
        return 0
    with connection.cursor() as cursor:
        params = {**attribution_windows(), "ids": list(order_ids)}
        cursor.execute(_attribute_sql("o.id = ANY(%(ids)s)"), params)
        return cursor.rowcount


def orders_reattribute(*, since: datetime, shop_id: int | None = None) -> int:
    """Attribute again the orders placed since ``since`` (of one shop, or all): the touches
    recorded after they were ingested count now. Idempotent; returns how many changed."""
    where = "o.placed_at >= %(since)s" + (" AND o.shop_id = %(shop)s" if shop_id is not None else "")
    with connection.cursor() as cursor:
        cursor.execute(_attribute_sql(where), {**attribution_windows(), "since": since, "shop": shop_id})
        return cursor.rowcount


def orders_reattribute_recent() -> int:
    """The hourly schedule: every shop's orders placed within ``REATTRIBUTE_LOOKBACK``."""
    return orders_reattribute(since=timezone.now() - REATTRIBUTE_LOOKBACK)
