"""The open API (django-ninja), mounted at /api/v1/: a thin adapter over the same services as the portal.

``app`` builds the NinjaAPI and its error handlers; ``auth`` the key check, rate limit and scopes;
``errors`` the error body; ``idempotency`` the ``Idempotency-Key`` of every POST; ``pagination``
the cursors of list endpoints; ``routers`` one module per resource (docs/API.md).
"""
