"""Metadata in SQLite: the schema (numbered migrations) and every query."""
