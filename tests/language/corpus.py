"""Reads the corpus files: catalogue, text, expected intent, items and unmatched words."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from gateway.orders.catalog import read_csv
from gateway.language import OrderLanguage, compile_language

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CATALOGS = {
    ("demo", "zh-CN"): ROOT / "gateway" / "orders" / "demo" / "catalog-zh-CN.csv",
    ("demo", "ko-KR"): ROOT / "gateway" / "orders" / "demo" / "catalog-ko-KR.csv",
    ("alt", "zh-CN"): HERE / "catalog_alt_zh.csv",
    ("alt", "ko-KR"): HERE / "catalog_alt_ko.csv",
    ("fresh", "zh-CN"): HERE / "catalog_fresh_zh.csv",
    ("fresh", "ko-KR"): HERE / "catalog_fresh_ko.csv",
}


@dataclass(frozen=True)
class Case:
    file: str
    line: int
    catalog: str
    text: str
    expected: dict

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def _number(text: str) -> int | float:
    d = Decimal(text)
    return int(d) if d == d.to_integral_value() else float(d)


def load(name: str) -> list[Case]:
    """Cases of one TSV file; '#' lines are comments."""
    cases = []
    for n, line in enumerate((HERE / name).read_text("utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t") + [""] * 5
        catalog, text, intent, items, unmatched = parts[:5]
        expected_items = []
        for spec in filter(None, items.split(",")):
            sku, qty, unit = spec.split(":")
            expected_items.append({"sku": sku, "quantity": _number(qty), "unit": unit})
        cases.append(Case(name, n, catalog, text, {
            "intent": intent, "items": expected_items,
            "unmatched": [u for u in unmatched.split("|") if u]}))
    return cases


@cache
def language(catalog: str, locale: str) -> OrderLanguage:
    return compile_language(locale, read_csv(CATALOGS[(catalog, locale)]))


def actual(case: Case, locale: str) -> dict:
    """The parse of a case, without item names (the corpus does not repeat them)."""
    got = language(case.catalog, locale).parse(case.text).to_dict()
    return {"intent": got["intent"],
            "items": [{k: i[k] for k in ("sku", "quantity", "unit")} for i in got["items"]],
            "unmatched": got["unmatched"]}


def accuracy(name: str, locale: str) -> tuple[int, int, list[tuple[Case, dict]]]:
    cases = load(name)
    wrong = [(c, a) for c in cases if (a := actual(c, locale)) != c.expected]
    return len(cases) - len(wrong), len(cases), wrong


# The real-world corpus (issue 14): tests/language/realworld/{tuning,heldout}_{zh,ko}.tsv.
# Columns: catalogue, text, intent, items, source. Exact match is the intent plus the multiset
# of (sku, quantity, unit): the order of the lines and the unmatched words are not compared.
REALWORLD = HERE / "realworld"
CATALOGS[("rw", "zh-CN")] = REALWORLD / "catalog_zh.csv"
CATALOGS[("rw", "ko-KR")] = REALWORLD / "catalog_ko.csv"


@dataclass(frozen=True)
class RealCase:
    file: str
    line: int
    catalog: str
    text: str
    intent: str
    items: tuple[tuple[str, int | float, str], ...]
    source: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def load_realworld(name: str) -> list[RealCase]:
    cases = []
    path = REALWORLD / name
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        catalog, text, intent, items, source = (line.split("\t") + [""] * 5)[:5]
        specs = []
        for spec in filter(None, items.split(",")):
            sku, qty, unit = spec.split(":")
            specs.append((sku, _number(qty), unit))
        cases.append(RealCase(name, n, catalog, text.replace("\\n", "\n"), intent,
                              tuple(sorted(specs, key=repr)), source))
    return cases


def real_actual(case: RealCase, locale: str) -> tuple[str, tuple]:
    got = language(case.catalog, locale).parse(case.text).to_dict()
    items = tuple(sorted(((i["sku"], i["quantity"], i["unit"]) for i in got["items"]), key=repr))
    return got["intent"], items


def real_accuracy(name: str, locale: str) -> tuple[int, int, list[tuple[RealCase, tuple]]]:
    cases = load_realworld(name)
    wrong = [(c, a) for c in cases if (a := real_actual(c, locale)) != (c.intent, c.items)]
    return len(cases) - len(wrong), len(cases), wrong
