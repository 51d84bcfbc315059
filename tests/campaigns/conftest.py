"""Fixtures of the campaign tests (defined in ``campaign_fixtures``)."""

import pytest

from tests.campaigns.campaign_fixtures import assert_stats_clean, pipeline_settings, ready_shop  # noqa: F401

# The closed loop's tests (sends, clicks, orders, attribution, holdout, A/B, results pages and
# API): after each, every results counter (messages, clicks, attributed orders) must equal a
# recount of the rows (manage.py reconcile_stats).
STATS_CHECKED_MODULES = {
    "test_closed_loop",
    "test_attribution",
    "test_holdout",
    "test_ab_testing",
    "test_short_links",
    "test_results_pages",
    "test_campaign_results",
    "test_api_resources",
}


@pytest.fixture(autouse=True)
def _stats_clean_after_closed_loop_tests(request):
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if request.module.__name__.rsplit(".", 1)[-1] not in STATS_CHECKED_MODULES or not uses_db:
        yield
        return
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or bool(
        marker and marker.kwargs.get("transaction")
    )
    # Requested here, so the database fixture is torn down after this check.
    request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    assert_stats_clean()
