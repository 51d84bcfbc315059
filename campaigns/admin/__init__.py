"""Admin of the campaigns app, one module per model family."""

from campaigns.admin import api, audience, frequency, gateway, imports, links, orders, sending  # noqa: F401
