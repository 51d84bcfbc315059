"""Admin of the campaigns app, one module per model family."""

from campaigns.admin import frequency  # noqa: F401
