"""Plugin modules used by the plugin-system tests (imported by name, never installed)."""
