"""WhiteNoise's compressed manifest storage, with each static file's URL built once per process.

Every ``{% static %}`` tag asks the storage for the hashed URL of a file: a manifest lookup, then
URL splitting, joining, quoting and unquoting, ~15 µs each, six times on every admin page and on
every portal page. The manifest is read when the storage is created and does not change while
the process runs, so a name's URL is remembered (not with ``DEBUG`` or ``force``, where Django
gives another URL; not while ``collectstatic`` writes a new manifest). A missing manifest entry
still raises on every call, as Django's does. Compared with WhiteNoise's in
tests/smsmarketing/test_staticfiles.py.
"""

from __future__ import annotations

from django.conf import settings
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._urls: dict[str, str] = {}

    def url(self, name, force=False):
        if force or settings.DEBUG:
            return super().url(name, force)
        try:
            return self._urls[name]
        except KeyError:
            url = self._urls[name] = super().url(name)
            return url

    def post_process(self, *args, **kwargs):
        # collectstatic writes a new manifest: forget the URLs of the old one.
        self._urls.clear()
        yield from super().post_process(*args, **kwargs)
        self._urls.clear()
