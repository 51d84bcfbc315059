"""Admin of the reviews app (the reviewers' workbench), one module per model family."""

from reviews.admin import confusables, patterns, policy, signatures, templates, workbench  # noqa: E402,F401
