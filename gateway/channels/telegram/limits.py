"""Telegram's size limits, counted as Telegram counts them (UTF-16 code units after entity
parsing; Doorstep sends plain text): 4,096 for a message's text, 1,024 for a caption.

`split()` cuts a long text into messages at line ends where it can (a shopping list or an
alert stays readable), inside a line only when one line alone is too long; `shorten()` is for
what can't become several messages (an edit of a card, a caption)."""

from __future__ import annotations

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ELLIPSIS = "…"


def units(text: str) -> int:
    """Length in UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> int:
    """The largest index i with units(text[:i]) <= limit."""
    total = 0
    for i, ch in enumerate(text):
        total += 2 if ord(ch) > 0xFFFF else 1
        if total > limit:
            return i
    return len(text)


def shorten(text: str, limit: int = TEXT_LIMIT) -> str:
    if units(text) <= limit:
        return text
    return text[:_cut(text, limit - units(ELLIPSIS))].rstrip() + ELLIPSIS


def split(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most `limit` units each, joined back they give the text (less the line
    breaks at the cuts); a text within the limit is one part."""
    if units(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while units(line) > limit:  # one line alone too long: cut it, at a space if one is near
            if current:
                parts.append(current)
                current = ""
            i = _cut(line, limit)
            space = line.rfind(" ", 0, i)
            if space > i // 2:
                i = space
            parts.append(line[:i])
            line = line[i:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if units(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = line
    if current or not parts:
        parts.append(current)
    return [p for p in parts if p.strip()] or [text[:_cut(text, limit)]]
