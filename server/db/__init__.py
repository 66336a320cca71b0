"""Database: models, async engine and Alembic migrations."""
