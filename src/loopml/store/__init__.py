"""Metadata store infrastructure: engine, tables, migrations."""
