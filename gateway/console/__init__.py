"""The operator console under /console."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Registers the console's routes (see gateway/console/routes.py once it lands)."""
