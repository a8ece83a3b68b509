"""Connectors bring CRM records into the store (demo generator, API sync, file import)."""
