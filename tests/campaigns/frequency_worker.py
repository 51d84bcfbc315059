"""A worker process of the frequency concurrency test (run as ``python -m tests.campaigns.frequency_worker``).

It plays one send-pipeline worker: for each of its shops and each day, one
transaction that decides a batch of marketing messages (the batch in its own
random order) and then holds the transaction open a moment, as the pipeline does
while it reserves balance and writes message rows. It prints one JSON line with
what it was allowed to send, and any database error it met (a deadlock would be one).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time


def main() -> int:
    config = json.loads(sys.argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsmarketing.settings_test")
    import django

    django.setup()
    from datetime import datetime

    from django.db import DatabaseError, transaction

    from campaigns.services.frequency import ReleaseItem, frequency_decide, frequency_release_many

    rng = random.Random(config["seed"])
    allowed: list[list] = []
    errors: list[str] = []
    while time.time() < config["start_at"]:
        time.sleep(0.005)
    for at_text in config["times"]:
        at = datetime.fromisoformat(at_text)
        for shop_id in config["shops"]:
            phones = list(config["phones"])
            rng.shuffle(phones)
            try:
                with transaction.atomic():
                    decisions = frequency_decide(
                        shop_id=shop_id, message_class="marketing", phones=phones, at=at
                    )
                    time.sleep(rng.uniform(0, 0.02))
            except DatabaseError as exc:  # recorded, not retried: the test asserts there are none
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            allowed.extend([shop_id, at_text, d.phone] for d in decisions if d.allowed)
    released: list[list] = []
    if config.get("then_release_first_day_and_send_at"):
        # Mixed phase: in one transaction per shop, release this worker's messages of the
        # first day (they "failed", in random order) and decide a new batch, while the
        # other processes do the same: releases and decisions contend for the same rows.
        at_text = config["then_release_first_day_and_send_at"]
        at = datetime.fromisoformat(at_text)
        first_day = config["times"][0]
        for shop_id in config["shops"]:
            mine = [item for item in allowed if item[0] == shop_id and item[1] == first_day]
            rng.shuffle(mine)
            phones = list(config["phones"])
            rng.shuffle(phones)
            try:
                with transaction.atomic():
                    frequency_release_many(
                        ReleaseItem(
                            shop_id=s,
                            message_class="marketing",
                            phone=p,
                            accepted_at=datetime.fromisoformat(a),
                        )
                        for s, a, p in mine
                    )
                    decisions = frequency_decide(
                        shop_id=shop_id, message_class="marketing", phones=phones, at=at
                    )
                    time.sleep(rng.uniform(0, 0.02))
            except DatabaseError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            released.extend(mine)
            allowed.extend([shop_id, at_text, d.phone] for d in decisions if d.allowed)
    print(json.dumps({"allowed": allowed, "released": released, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
