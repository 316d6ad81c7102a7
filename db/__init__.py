"""Storage: SQLAlchemy 2 models, query modules (one per concern, each taking a session),
the SMS fast path on the bare drivers, and Alembic migrations. Imports nothing from gateway or
voice."""
