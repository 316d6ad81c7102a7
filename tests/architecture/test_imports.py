"""The house's import rules, read from the code's own import statements (AST, no import run).

Each rule names a set of packages and the modules they may never import, directly or inside a
function. The flow runs one way: channels → conversation → orders → dispatch/notify → db.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

VENDORS = ("aiohttp", "aiogram", "twilio")
# package (folder under ROOT) -> prefixes it must never import
RULES: dict[str, tuple[str, ...]] = {
    "db": ("gateway", "voice"),
    "voice": ("gateway", "db"),
    "gateway/language": ("gateway.channels", "gateway.conversation", "gateway.orders",
                         "gateway.dispatch", "gateway.notify", "gateway.cli", *VENDORS),
    "gateway/conversation": ("gateway.channels", "gateway.cli", "db", *VENDORS),
    "gateway/orders": ("gateway.channels", "gateway.conversation", "gateway.cli", *VENDORS),
    "gateway/dispatch": ("gateway.channels", "gateway.conversation", "gateway.cli", *VENDORS),
    "gateway/notify": ("gateway.channels", "gateway.conversation", "gateway.cli", *VENDORS),
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def forbidden(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_follow_the_flow(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for line, name in imports_of(path):
            if forbidden(name, RULES[package]):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_rules_see_imports() -> None:
    """The checker itself: a channel module does import aiohttp, so an empty finding means
    the rule held, not that nothing was read."""
    names = {n for _, n in imports_of(ROOT / "gateway" / "channels" / "twilio" / "sms.py")}
    assert "aiohttp" in names or "aiohttp.web" in names


def test_no_loose_modules_beside_the_rooms() -> None:
    """gateway/ holds the composition root and shared kernel only; everything else has a room."""
    loose = sorted(p.name for p in (ROOT / "gateway").glob("*.py"))
    assert loose == ["__init__.py", "app.py", "errors.py", "services.py", "settings.py",
                     "templates.py"]
