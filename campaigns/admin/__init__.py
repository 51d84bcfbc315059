"""Admin of the campaigns app, one module per model family."""

from campaigns.admin import frequency, gateway  # noqa: F401
