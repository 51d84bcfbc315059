"""A client process of the cross-process rate-limit test (``python -m tests.campaigns.api_rate_worker``).

It plays one web process answering one merchant's calls: at ``start_at`` it sends ``n`` requests
of ``GET /api/v1/account`` with the key through Django's test client (its own interpreter, its own
database connection, nothing shared with the other processes but PostgreSQL) and prints one JSON
line: the statuses and the Retry-After values of the refusals.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    config = json.loads(sys.argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsmarketing.settings_test")
    import django

    django.setup()
    from django.test import Client, override_settings

    limit = {"requests": config["limit"], "seconds": config["window"]}
    with override_settings(API_RATE_LIMIT=limit, ALLOWED_HOSTS=["testserver"]):
        client = Client()
        headers = {"Authorization": f"Bearer {config['token']}"}
        while time.time() < config["start_at"]:
            time.sleep(0.005)
        answers = [client.get("/api/v1/account", headers=headers) for _ in range(config["n"])]
    print(
        json.dumps(
            {
                "statuses": [a.status_code for a in answers],
                "retry_after": sorted({a["Retry-After"] for a in answers if a.status_code == 429}),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
