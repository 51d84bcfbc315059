"""One log format for every process: Django, django-q2 and gunicorn.

A line is ``2026-12-07T11:30:05.123+08:00 INFO django.request message``: ISO-8601 time with its
zone, the level, the logger. With ``LOG_FORMAT=json`` each line is one JSON object with the same
fields (``time``, ``level``, ``logger``, ``message`` and any extras) for log shippers.

``gunicorn.conf.py`` imports :func:`logging_config` before Django is set up, so this module
imports nothing of Django.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pythonjsonlogger.json import JsonFormatter

LINE = "%(asctime)s %(levelname)s %(name)s %(message)s"


def iso_time(record: logging.LogRecord, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(record.created, tz=zone).isoformat(timespec="milliseconds")


class IsoFormatter(logging.Formatter):
    def __init__(self, fmt: str = LINE, zone: str = "UTC") -> None:
        super().__init__(fmt)
        self.zone = ZoneInfo(zone)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        return iso_time(record, self.zone)


class IsoJsonFormatter(JsonFormatter):
    def __init__(self, zone: str = "UTC") -> None:
        super().__init__(
            LINE,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
        self.zone = ZoneInfo(zone)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return iso_time(record, self.zone)


def logging_config(*, level: str = "INFO", fmt: str = "plain", zone: str = "UTC") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` dictionary of every process (``LOGGING`` in settings)."""
    formatter = (
        {"()": IsoJsonFormatter, "zone": zone}
        if fmt == "json"
        else {"()": IsoFormatter, "fmt": LINE, "zone": zone}
    )
    quiet = {"level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": quiet,
            # Start-up chatter printed by every management command, not news to an operator.
            "axes": quiet,
            "pgserver": quiet,
            # gunicorn keeps its own handlers unless told: route its lines through ours.
            "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
