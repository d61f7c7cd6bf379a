"""bus layer (see docs/architecture.md)."""
