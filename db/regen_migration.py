"""Developer tool: regenerate the initial migration from db/models.py (before the first release).

Run `python -m db.regen_migration`; it autogenerates against an empty SQLite database.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from db.migrate import MIGRATIONS, alembic_config


def main() -> None:
    versions = MIGRATIONS / "versions"
    for old in versions.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = alembic_config(f"sqlite:///{Path(tmp) / 'empty.db'}")
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
    for f in versions.glob("0001_*.py"):
        f.rename(versions / "0001_initial_schema.py")
    print("wrote", versions / "0001_initial_schema.py")


if __name__ == "__main__":
    main()
