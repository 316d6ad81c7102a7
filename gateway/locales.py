"""The locales Doorstep speaks, and the spelling variants people and vendors use for them."""

from __future__ import annotations

SUPPORTED_LOCALES = ("zh-CN", "ko-KR")
DEFAULT_LOCALE = "zh-CN"


def normalize_locale(value: str | None) -> str:
    """`zh`, `zh_CN`, `zh-Hans`, `ko`, `ko_kr` ... to a supported locale; unknown → zh-CN."""
    v = (value or "").strip().replace("_", "-").lower()
    if v.startswith("ko"):
        return "ko-KR"
    return DEFAULT_LOCALE
