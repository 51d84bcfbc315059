"""Settings, read from the environment.

Every environment variable the application reads is read here, once, through the typed reader
``env`` (django-environ, smsmarketing/environment.py): a value it cannot read, or one out of
range, stops start-up with a message naming the variable. The README's configuration table lists
each of them (tests/smsmarketing/test_readme_settings.py keeps the two in step).

Required in production: ``DATABASE_URL``, ``SECRET_KEY``, ``ALLOWED_HOSTS``.
Everything has a safe default for local use; see README "Configuration for production".
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from smsmarketing.environment import Env
from smsmarketing.log_format import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
env = Env()


def _local_secret_key() -> str:
    """A per-checkout random key kept in an ignored file (never in the repo)."""
    path = BASE_DIR / ".secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "smsmarketing.admin_site.SmsAdminConfig",  # django.contrib.admin with the platform's titles
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_fsm",
    "smsmarketing",  # before django_q: its qcluster command overrides django-q2's (English logs)
    "django_q",
    "django_htmx",
    "axes",
    "csp",
    "reviews",
    "campaigns",
    "ninja",  # the open API's docs page from static files, not a CDN (campaigns.api)
    "health_check",  # /readyz (smsmarketing.health)
    "django_prometheus",  # /metrics' request metrics
]

MIDDLEWARE = [
    # First and (but for axes) last: django-prometheus times and counts every request between them.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it turns a lockout into the Chinese lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "smsmarketing.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "smsmarketing.context_processors.notifications",  # the bell's unread count
            ],
        },
    },
]

WSGI_APPLICATION = "smsmarketing.wsgi.application"

# PostgreSQL only: row locks, ON CONFLICT and partial indexes are used on purpose.
_database_url = env.str("DATABASE_URL", default="")
if not _database_url:
    # Imported only here: it starts a server, which a machine with DATABASE_URL never needs.
    from smsmarketing.embedded_db import database_url

    # EMBEDDED_PGDATA: the embedded server's data folder (make stop/status take the same value).
    _database_url = database_url(Path(env.str("EMBEDDED_PGDATA", default=str(BASE_DIR / ".pgdata"))))
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
# libpq's socket form "postgresql://user@/name?host=/socket/folder" (the embedded
# server's): dj-database-url leaves host/port in OPTIONS; Django takes a folder as
# HOST, and there the tests find it to hand the same server to processes they start.
for _key in ("host", "port"):
    if not DATABASES["default"][_key.upper()] and _key in DATABASES["default"].get("OPTIONS", {}):
        DATABASES["default"][_key.upper()] = str(DATABASES["default"]["OPTIONS"].pop(_key))
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError("DATABASE_URL must point at PostgreSQL (postgres://...).")
# JIT off for the app's sessions (libpq "options"): its queries are short index lookups, but a
# row estimate such as one campaign's 400,000 messages crosses jit_above_cost, and compiling
# then took ~150 ms for a query that returns nothing (the campaign page at 20M messages,
# docs/PERFORMANCE.md); nothing here runs long enough for JIT to pay back.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["options"] = f"{_db_options.get('options', '')} -c jit=off".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: the counts of campaigns that are over and settled (campaigns.selectors). With
# CACHE_URL=redis://host:6379/0 every web process shares one Redis (counted once, not once
# per gunicorn worker); the key prefix is the database name, so databases sharing a Redis
# never read each other's counts. Unset: each process keeps its own (LocMemCache).
# CACHE_SHARED: every web process sees the same cache, so a value one process invalidates is
# invalid for all (the opt-out counts of settled campaigns are cached only then).
_cache_url = env.str("CACHE_URL", default="")
if _cache_url and not _cache_url.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"CACHE_URL={_cache_url!r} must be a Redis URL (redis://, rediss:// or unix://).")
CACHE_SHARED = bool(_cache_url)
if CACHE_SHARED:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": DATABASES["default"]["NAME"],
        }
    }
    # Sessions read from the shared Redis (one query per page less), written to both. Only with
    # a shared cache: with per-process caches a logout in one worker would leave the session
    # cached in the others (tests/smsmarketing/test_sessions.py).
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# django-axes first: it refuses a locked-out username+IP before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Front-end libraries come from the npm registry at set-up (package.json).
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
# collectstatic writes hashed, compressed files and their manifest, which production serves
# (WhiteNoise, cached forever). Before it has run (runserver or gunicorn on a fresh clone) the
# storage gives plain names and WhiteNoise serves them from the source folders (its finders).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "smsmarketing.static_storage.ManifestWhenCollectedStorage"},
}
WHITENOISE_USE_FINDERS = not (STATIC_ROOT / "staticfiles.json").exists()

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"

# Security. HTTPS=1 in production turns on the redirect, secure cookies and
# HSTS; local runs over plain http on 127.0.0.1 leave it off.
HTTPS = env.bool("HTTPS", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
# Kannel's callbacks come over plain http from the gateway host (127.0.0.1); they
# carry their own tokens (campaigns.views.gateway).
# Probes and Prometheus talk plain http to the process itself (smsmarketing.health).
SECURE_REDIRECT_EXEMPT = [r"^hooks/kannel/", r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.bounded("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Behind N reverse proxies that append to X-Forwarded-For, the client is the Nth
# address from the right; 0 (default) trusts only REMOTE_ADDR (smsmarketing.security).
TRUSTED_PROXY_COUNT = env.bounded("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)
# /metrics answers a bearer METRICS_TOKEN (if set) or a client inside METRICS_ALLOWED_NETS
# (CIDRs; empty = token only); anyone else gets 403 (smsmarketing.health).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETS = env.list("METRICS_ALLOWED_NETS", default=["127.0.0.1/32", "::1/128"])
for _net in METRICS_ALLOWED_NETS:
    try:
        ipaddress.ip_network(_net, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETS: {_net!r} is not a network ({_error}).") from None

# Content Security Policy (django-csp): scripts and styles only from our own origin,
# an inline block only with the per-request nonce ({{ request.csp_nonce }}); no
# inline style attributes, no eval, no framing, forms post only to ourselves.
# The portal and the admin pass it (tests/security/test_headers.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one
# username from one IP, that pair is locked for the cool-off; a success resets it.
AXES_FAILURE_LIMIT = env.bounded("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.bounded("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "smsmarketing.security.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "smsmarketing.security.client_ip"
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_VERBOSE = False  # no "AXES: BEGIN version …" line on every management command

# Gateway callbacks (/hooks/kannel/): besides their HMAC tokens, calls from an address
# outside SMS_CALLBACK_ALLOWED_NETS (CIDRs; empty = any) are refused, and each client
# address gets at most SMS_CALLBACK_RATE calls and SMS_CALLBACK_REFUSED_RATE refused
# calls (bad token, malformed) per minute; beyond them it is answered 429 (Kannel
# retries later). Counters live in PostgreSQL, shared by every web process.
SMS_CALLBACK_ALLOWED_NETS = env.list("SMS_CALLBACK_ALLOWED_NETS", default=[])
SMS_CALLBACK_RATE = env.bounded("SMS_CALLBACK_RATE", 30000, minimum=1)
SMS_CALLBACK_REFUSED_RATE = env.bounded("SMS_CALLBACK_REFUSED_RATE", 20, minimum=1)

# The open API (campaigns.api.auth): each key may make API_RATE_LIMIT["requests"] calls per fixed
# window of API_RATE_LIMIT["seconds"] (20 per second on average, bursts of 40); beyond, 429 with
# Retry-After. Counted in PostgreSQL, or in Redis when CACHE_URL is set: shared by every process.
API_RATE_LIMIT = {"requests": 40, "seconds": 2}

# Customer CSV uploads larger than this are refused with a clear message, while the
# body is read and before anything is stored (smsmarketing.uploads).
SMS_IMPORT_MAX_BYTES = env.bounded("SMS_IMPORT_MAX_MB", 50, minimum=1) * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "smsmarketing.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# django-q2 on the ORM broker in the same PostgreSQL: enqueues roll back with
# the transaction. retry > timeout so a task is never picked twice while it
# still runs; bounded attempts; schedules missed during downtime are not
# replayed one by one (catch_up=False). Every task is idempotent.
Q_CLUSTER = {
    "name": "smsmarketing",
    "orm": "default",
    "workers": env.bounded("Q_WORKERS", 2, minimum=1, maximum=64),
    # Recovery within a minute (docs/OPERATIONS.md, "Recovery after a crash"): a task runs at
    # most TASK_TIME_BUDGET (45 s) plus one batch, then re-enqueues itself; timeout only stops a
    # runaway one. retry > timeout: a live task is never handed to a second cluster, and a dead
    # worker's task comes back after 75 s (runs come back sooner: a worker's start, every minute).
    "timeout": 60,
    "retry": 75,
    "max_attempts": 5,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    # Per schedule (a task's group is its schedule's name): the every-minute tasks would push a
    # daily task's last success out of one shared 1000 (the metrics read it: campaigns.metrics).
    "save_limit_per": "group",
    "poll": 1,
    "label": "任务队列",
}

# The send pipeline (campaigns.services.sending). The gateway is a backend class;
# the simulated one is the default for local runs and tests (see docs/CAMPAIGNS.md).
SMS_GATEWAY = {
    "BACKEND": env.str("SMS_GATEWAY_BACKEND", default="campaigns.gateways.simulated.SimulatedGateway"),
    "OPTIONS": {"fail_ratio": env.bounded("SMS_SIMULATED_FAIL_RATIO", 0.0, minimum=0.0, maximum=1.0)},
}
SMS_PIPELINE = {
    "TASK_TIME_BUDGET": 45,  # seconds per run task before it re-enqueues itself (< Q_CLUSTER timeout)
    "DISPATCH_RATE": env.bounded("SMS_DISPATCH_RATE", 100, minimum=0),  # messages/s per worker; 0 = no limit
    "DISPATCH_BATCH": 100,
    "PLAN_BATCH": env.bounded("SMS_PLAN_BATCH", 5000, minimum=1),  # recipients per planning transaction
    "PLAN_WORKERS": env.bounded("SMS_PLAN_WORKERS", 2, minimum=1),  # planners of one run (<= Q_WORKERS)
    "MAX_ATTEMPTS": 5,
    "RETRY_BACKOFF": 60,
    # Fault injection for the crash tests only: the process exits (os._exit) after this many
    # planning transactions / gateway batches; 0 = never.
    "CRASH_AFTER_PLAN_BATCHES": env.bounded("CAMPAIGNS_CRASH_AFTER_PLAN_BATCHES", 0, minimum=0),
    "CRASH_AFTER_DISPATCH_BATCHES": env.bounded("CAMPAIGNS_CRASH_AFTER_DISPATCH_BATCHES", 0, minimum=0),
}
# This app's public address (no trailing path): the default base of the short links.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# E-mail (notifications, docs/NOTIFICATIONS.md; full links in mails start with SITE_URL): with
# EMAIL_HOST set, mails go out through that SMTP server; without it (development) the console
# backend writes them to the log. A server that is down never fails an action: mails are queued
# and retried (smsmarketing.services.notifications); one SMTP exchange waits at most EMAIL_TIMEOUT.
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_BACKEND = f"django.core.mail.backends.{'smtp' if EMAIL_HOST else 'console'}.EmailBackend"
EMAIL_PORT = env.bounded("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: set one of them.")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="短信管理 <noreply@localhost>")
# Short links (campaigns.services.links): SMS_SHORT_LINK_BASE + a message's code, served by
# /t/<code>; a short host in production is a CNAME/proxy to this app's /t/ (docs/RESULTS.md).
SMS_SHORT_LINK_BASE = env.str("SMS_SHORT_LINK_BASE", default=f"{SITE_URL}/t/")
# A code answers for this many days after its message was planned, then a 404 page.
SMS_SHORT_LINK_DAYS = env.bounded("SMS_SHORT_LINK_DAYS", 90, minimum=1, maximum=3650)
# Message history (docs/RETENTION.md): the months of messages kept before a month is written to
# per-shop archive files and its partitions dropped. At most 60: a link code's first character
# names its month, and repeats after 62 months.
SMS_MESSAGE_RETENTION_MONTHS = env.bounded("SMS_MESSAGE_RETENTION_MONTHS", 13, minimum=1, maximum=60)
SMS_ARCHIVE_DIR = Path(env.str("SMS_ARCHIVE_DIR", default=str(BASE_DIR / "archive")))
# Webhooks (campaigns.services.webhooks, docs/API.md "Webhooks"): receiver URLs must be https and
# resolve to public addresses only (SSRF). WEBHOOKS_ALLOW_HTTP accepts plain http, and
# WEBHOOKS_ALLOW_PRIVATE private, loopback and link-local addresses (127.0.0.1 for the tests and
# local development); both follow DEBUG and must stay False in production.
WEBHOOKS_ALLOW_HTTP = DEBUG
WEBHOOKS_ALLOW_PRIVATE = DEBUG
if not SMS_SHORT_LINK_BASE.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"SMS_SHORT_LINK_BASE={SMS_SHORT_LINK_BASE!r} must be an http(s) URL.")
# A demo set-up (make run): with the simulated or console gateway, where no SMS leaves the
# machine, the portal shows a test phone's verification code on the page. Never in production.
SMS_DEMO = env.bool("SMS_DEMO", default=DEBUG)
# Last-touch attribution of orders (campaigns.services.attribution, docs/RESULTS.md): an order
# goes to the shop's message to its phone with the latest human click within the click window,
# or delivery within the delivery window, before the order. Shown on the campaign's results.
SMS_ATTRIBUTION_CLICK_WINDOW = timedelta(
    days=env.bounded("SMS_ATTRIBUTION_CLICK_DAYS", 5, minimum=1, maximum=30)
)
SMS_ATTRIBUTION_DELIVERY_WINDOW = timedelta(
    hours=env.bounded("SMS_ATTRIBUTION_DELIVERY_HOURS", 24, minimum=1, maximum=720)
)

# Kannel (campaigns.gateways.kannel, SMS_GATEWAY_BACKEND=campaigns.gateways.kannel.KannelGateway):
# its sendsms interface, the URL Kannel calls back for delivery reports and replies, and the
# key of the callbacks' tokens (empty: derived from SECRET_KEY). scripts/kannel/start.sh reads
# the same names for the Kannel it starts.
_kannel_port = env.bounded("KANNEL_SENDSMS_PORT", 13913, minimum=1, maximum=65535)
KANNEL = {
    "url": env.str("KANNEL_SENDSMS_URL", default=f"http://127.0.0.1:{_kannel_port}/cgi-bin/sendsms"),
    "username": env.str("KANNEL_SENDSMS_USER", default="smsmarketing"),
    "password": env.str("KANNEL_SENDSMS_PASSWORD", default="smsmarketing"),
    "callback_base_url": env.str("KANNEL_APP_URL", default="http://127.0.0.1:8000"),
    "service_number": env.str("KANNEL_SERVICE_NUMBER", default="10690001"),
    "smsc": env.str("KANNEL_SMSC_ID", default=""),
    "rate": env.bounded("KANNEL_RATE", 200.0, minimum=0.1),
    "concurrency": env.bounded("KANNEL_CONCURRENCY", 8, minimum=1, maximum=256),
    "timeout": env.bounded("KANNEL_TIMEOUT", 10.0, minimum=0.1),
}
KANNEL_DLR_SECRET = env.str("KANNEL_DLR_SECRET", default="")

# One line format for Django, django-q2 and gunicorn (gunicorn.conf.py uses the same), times in
# ISO-8601 with the zone; LOG_FORMAT=json for log shippers (smsmarketing/log_format.py).
LOGGING = logging_config(
    level=env.choice("LOG_LEVEL", "INFO", ("debug", "info", "warning", "error", "critical")).upper(),
    fmt=env.choice("LOG_FORMAT", "plain", ("plain", "json")),
    zone=TIME_ZONE,
)
