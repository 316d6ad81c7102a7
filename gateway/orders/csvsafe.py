"""CSV that a spreadsheet opens safely: a text cell that would start a formula (=, +, -, @, or a
tab or carriage return before one) gets a leading apostrophe, as OWASP recommends for CSV
injection. Numbers stay numbers. Every CSV Doorstep writes goes through `writer`."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TextIO

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class SafeWriter:
    """csv.writer whose rows are made safe cell by cell."""

    def __init__(self, out: TextIO) -> None:
        self._w = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([safe_cell(v) for v in row])


def writer(out: TextIO) -> SafeWriter:
    return SafeWriter(out)
