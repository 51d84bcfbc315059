"""One router per resource; each module owns its schemas (campaigns.api.app adds them all)."""
