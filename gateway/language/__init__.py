"""The order language: everyday zh-CN and ko-KR order texts to intent and items, per catalogue."""

from .compiler import OrderLanguage, compile_language
from .locales import SUPPORTED_LOCALES, normalize_locale
from .model import Correction, ParsedItem, ParseResult, VoskWordList, format_quantity

__all__ = [
           "SUPPORTED_LOCALES",
           "Correction",
           "OrderLanguage",
           "ParseResult",
           "ParsedItem",
           "VoskWordList",
           "compile_language",
           "format_quantity",
           "normalize_locale",
]
