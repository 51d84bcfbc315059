"""The open API's contract test (issue 22): requests generated from the OpenAPI schema the live
app serves (schemathesis), valid and invalid, over every operation, sent with a real key to the
app running in a live server; no answer may be a server error (the ``not_a_server_error`` check).

Each operation gets ``EXAMPLES`` generated requests of each kind (schema-conforming and not);
operations on one object also get requests naming the key's own objects (a draft, a sent
campaign, a webhook endpoint), so the generated bodies reach the services, not only the 404.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from campaigns.api.app import api
from campaigns.models import CampaignRun
from campaigns.services.campaign_setup import campaign_create_with_tests
from campaigns.services.sending import run_execute
from campaigns.services.webhooks import webhook_endpoint_create
from tests.campaigns.api_helpers import bearer, make_api_key
from tests.campaigns.campaign_fixtures import MARKETING_TEXT

pytestmark = pytest.mark.contract

# Generated requests per operation and kind (valid, invalid): 40 per operation, 600 for the 15
# operations, about a minute on the shared machine (58 s of 73 s with the set-up, 2 cores).
EXAMPLES = 20


@pytest.fixture
def contract_app(live_server, settings, alice, ready_shop, django_capture_on_commit_callbacks):
    """The live app, a key of a funded shop with every scope, and the shop's objects by path
    parameter."""
    # Generated requests come fast: the rate limit would answer most of them 429.
    settings.API_RATE_LIMIT = {"requests": 1_000_000, "seconds": 1}
    draft = campaign_create_with_tests(
        shop=ready_shop, user=alice, kind="marketing", name="草稿", text=MARKETING_TEXT, holdout_percent=10
    )
    with django_capture_on_commit_callbacks(execute=True):
        sent = campaign_create_with_tests(
            shop=ready_shop, user=alice, kind="marketing", name="已发送", text=MARKETING_TEXT, schedule=True
        )
    with django_capture_on_commit_callbacks(execute=True):
        for run in CampaignRun.objects.filter(campaign=sent):
            run_execute(run_id=run.pk)
    endpoint, _secret = webhook_endpoint_create(
        shop=ready_shop, user=alice, url="http://127.0.0.1:9/hooks", events=["message.delivered"]
    )
    _key, token = make_api_key(ready_shop)
    own = {"campaign_id": [draft.pk, sent.pk], "webhook_id": [endpoint.pk]}
    return live_server.url, token, own


def _strategies(operation, headers: dict, own: dict[str, list[int]]) -> list:
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE, headers=headers),
        operation.as_strategy(GenerationMode.NEGATIVE, headers=headers),
    ]
    for name, ids in own.items():
        if "{" + name + "}" in operation.path:
            strategies += [
                operation.as_strategy(GenerationMode.POSITIVE, headers=headers, path_parameters={name: pk})
                for pk in ids
            ]
    return strategies


def test_it_answers_no_server_error_to_any_generated_request(contract_app):
    base_url, token, own = contract_app
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    session = requests.Session()
    headers = bearer(token)
    operations, failures = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations.append(operation.label)

        @settings(
            max_examples=EXAMPLES * 2,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(*_strategies(operation, headers, own)))
        def generated(case) -> None:
            response = case.call(base_url=base_url, session=session)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            generated()
        except Exception as exc:  # noqa: BLE001 (every operation is tried; all failures reported)
            failures.append(f"{operation.label}: {exc}")
    served = api.get_openapi_schema()["paths"]
    assert sorted(operations) == sorted(f"{m.upper()} {p}" for p, ops in served.items() for m in ops)
    assert not failures, "\n\n".join(failures)
