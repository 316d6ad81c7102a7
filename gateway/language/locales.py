"""Supported locales, their spelling variants, and the per-locale language data files."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SUPPORTED_LOCALES = ("zh-CN", "ko-KR")
DEFAULT_LOCALE = "zh-CN"


_SCRIPT = {"ko-KR": re.compile(r"[\uac00-\ud7a3]"), "zh-CN": re.compile(r"[\u4e00-\u9fff]")}


def in_locale_script(locale: str, name: str) -> bool:
    """Whether a product name is written in the locale's script. One catalogue may hold goods of
    both locales (the demo does): a Chinese caller's menu must not offer 쌀."""
    script = _SCRIPT.get(normalize_locale(locale))
    return script is None or bool(script.search(name))


def normalize_locale(value: str | None) -> str:
    """`zh`, `zh_CN`, `zh-Hans`, `ko`, `ko_kr`, `kor` ... to a supported locale; unknown -> zh-CN."""
    v = (value or "").strip().replace("_", "-").lower()
    if v.startswith("ko") or v in ("kr", "kor-kr"):
        return "ko-KR"
    return DEFAULT_LOCALE


@dataclass(frozen=True)
class LocaleData:
    """The data of one locale as written in `data/<locale>.toml`."""

    locale: str
    spaced: bool
    traditional: str
    raw: dict[str, Any]

    def section(self, name: str) -> dict[str, Any]:
        return self.raw.get(name, {})

    def words(self, section: str, key: str) -> list[str]:
        return [str(w).lower() for w in self.raw.get(section, {}).get(key, [])]


@cache
def load_locale(locale: str) -> LocaleData:
    """Read a locale's data file once per process (compile time, never parse time)."""
    locale = normalize_locale(locale)
    text = (Path(__file__).parent / "data" / f"{locale}.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    return LocaleData(locale=locale, spaced=raw.get("script") == "spaced",
                      traditional=str(raw.get("traditional", "")), raw=raw)
