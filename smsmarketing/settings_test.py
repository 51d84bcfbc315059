"""Test settings: tasks run synchronously, fast password hashing, plain http."""

from smsmarketing.settings import *  # noqa: F403
from smsmarketing.settings import INSTALLED_APPS, Q_CLUSTER

# The development-only benchmarks and SMPP simulator: their commands are smoke-tested.
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
DEBUG = False
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
# The webhook tests' receivers listen on http://127.0.0.1 (the SSRF tests turn these off).
WEBHOOKS_ALLOW_HTTP = True
WEBHOOKS_ALLOW_PRIVATE = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests don't run collectstatic; WhiteNoise would warn about the missing STATIC_ROOT.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405

# Close connections at the end of each request: live-server tests serve every
# request on a new thread, and persistent connections would pile up to the
# server's max_connections.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
