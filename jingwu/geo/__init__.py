"""geo layer (see docs/architecture.md)."""
