"""Alembic migrations for lprd's database (the only way the schema changes)."""
