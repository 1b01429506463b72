"""Alembic migrations of the application database (driven from `activities.store.migrate`)."""
