"""The static files storage: hashed and compressed once collected, plain names before.

Production runs ``collectstatic``, which writes hashed, compressed copies and their manifest
(WhiteNoise's ``CompressedManifestStaticFilesStorage``); pages then link the hashed names, which
browsers may cache forever. A fresh clone has no manifest yet, and the manifest storage would
answer every page that links a static file with a 500 ("Missing staticfiles manifest entry").
Until a manifest exists this storage links the plain names, and WhiteNoise serves them from the
source folders (``WHITENOISE_USE_FINDERS``, set in settings when the manifest is missing).
"""

from __future__ import annotations

from django.contrib.staticfiles.storage import StaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class ManifestWhenCollectedStorage(CompressedManifestStaticFilesStorage):
    def url(self, name: str | None, force: bool = False) -> str:
        if not self.hashed_files:  # no manifest: collectstatic has not run here
            return StaticFilesStorage.url(self, name)
        return super().url(name, force=force)
