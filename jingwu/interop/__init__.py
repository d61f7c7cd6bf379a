"""interop layer (see docs/architecture.md)."""
