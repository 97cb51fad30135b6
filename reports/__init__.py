"""Self-contained HTML reports rendered from saved artifacts."""
