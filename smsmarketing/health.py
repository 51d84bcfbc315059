"""Operators' endpoints: liveness, readiness and Prometheus metrics (docs/OPERATIONS.md).

- ``/healthz`` (liveness): the process answers; touches no database, cache or broker, so a
  PostgreSQL outage never makes an orchestrator restart every web process.
- ``/readyz`` (readiness, django-health-check): PostgreSQL, the cache and django-q2's broker
  (the ORM broker: its queue table in the same PostgreSQL) answer; 503 otherwise. Whether a
  ``qcluster`` is alive is not part of it (a dead cluster is no reason to take the web out of
  a load balancer): the metrics show it (``sms_scheduled_task_last_success_timestamp_seconds``
  of the every-minute settlement) and an alert reports it.
- ``/metrics``: django-prometheus' request metrics, then the figures read from PostgreSQL at
  scrape time by the collectors registered in ``DATABASE_METRICS`` (the apps register theirs
  in ``AppConfig.ready``: ``campaigns.metrics``). Only for a bearer ``METRICS_TOKEN`` or a
  client inside ``METRICS_ALLOWED_NETS``; anyone else gets 403.

None of them needs a login, and all are exempt from the HTTPS redirect
(``SECURE_REDIRECT_EXEMPT``): probes and scrapers talk plain http to the process itself.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import logging

import prometheus_client
from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django_prometheus.exports import ExportToDjangoView
from django_q.brokers import get_broker
from django_q.conf import Conf
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

from smsmarketing.security import client_ip

logger = logging.getLogger(__name__)

# Collectors that read PostgreSQL when scraped. Kept apart from prometheus_client's default
# registry: under gunicorn with PROMETHEUS_MULTIPROC_DIR, django-prometheus exports a registry
# of the workers' files only, and these figures are the same whichever worker answers.
DATABASE_METRICS = prometheus_client.CollectorRegistry(auto_describe=True)


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: 200 ``ok`` while the process serves requests. No query, no cache."""
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


@dataclasses.dataclass
class Broker(HealthCheck):
    """django-q2's broker answers: the ORM broker's ``ping`` is always true, so read the
    queue's size instead (one ``count`` on ``django_q_ormq``, through the broker itself)."""

    def run(self) -> None:
        try:
            get_broker().queue_size()
        except DatabaseError as error:
            raise ServiceUnavailable("broker unavailable") from error
        finally:
            # The check runs on an executor thread: its connection is that thread's own.
            connections[Conf.ORM].close()


READINESS_CHECKS = (
    "health_check.Database",
    "health_check.Cache",
    "smsmarketing.health.Broker",
)


class ReadinessView(HealthCheckView):
    """django-health-check's view, answering 503 (not 500) when a check fails: the
    process is fine, what it depends on is not (load balancers read 503 as "not now")."""

    checks = READINESS_CHECKS

    async def get(self, request, *args, **kwargs):
        response = await super().get(request, *args, **kwargs)
        if response.status_code == 500:
            response.status_code = 503
        return response


def metrics_client_allowed(request: HttpRequest) -> bool:
    """A bearer ``METRICS_TOKEN`` (when one is set), or a client address inside
    ``METRICS_ALLOWED_NETS`` (an empty list allows no address)."""
    token = settings.METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if offered and hmac.compare_digest(offered.encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETS)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format: django-prometheus' metrics, then ``DATABASE_METRICS``."""
    if not metrics_client_allowed(request):
        logger.warning("metrics: refused a scrape from %s", client_ip(request))
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    response = ExportToDjangoView(request)
    response.write(prometheus_client.generate_latest(DATABASE_METRICS))
    return response
