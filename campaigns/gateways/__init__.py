"""Gateway backends, chosen by ``settings.SMS_GATEWAY``::

    SMS_GATEWAY = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {...}}

``get_gateway()`` builds a fresh backend per dispatch run (the pipeline calls
``close()`` when the run ends).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from campaigns.gateways.base import GatewayBackend

DEFAULT_GATEWAY = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {}}


def get_gateway() -> GatewayBackend:
    config = getattr(settings, "SMS_GATEWAY", DEFAULT_GATEWAY)
    backend = import_string(config["BACKEND"])
    return backend(**config.get("OPTIONS", {}))
