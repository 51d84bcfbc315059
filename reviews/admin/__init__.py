"""Admin of the reviews app (the reviewers' workbench), one module per model family."""

from reviews.admin import signatures, workbench  # noqa: E402,F401
from reviews.admin import policy, templates  # noqa: E402,F401
