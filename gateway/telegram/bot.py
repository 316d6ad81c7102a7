"""Placeholder until this adapter lands."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Nothing to register yet."""
