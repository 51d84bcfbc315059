"""Fixtures of the campaign tests (defined in ``campaign_fixtures``)."""

from tests.campaigns.campaign_fixtures import pipeline_settings, ready_shop  # noqa: F401
