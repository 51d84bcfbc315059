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

    from campaigns.services.frequency import frequency_decide

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
                    decisions = frequency_decide(shop_id=shop_id, message_class="marketing", phones=phones, at=at)
                    time.sleep(rng.uniform(0, 0.02))
            except DatabaseError as exc:  # recorded, not retried: the test asserts there are none
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            allowed.extend([shop_id, at_text, d.phone] for d in decisions if d.allowed)
    print(json.dumps({"allowed": allowed, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
