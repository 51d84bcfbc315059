"""Admin of the reviews app (the reviewers' workbench), one module per model family."""
