"""Admin of the campaigns app, one module per model family."""
