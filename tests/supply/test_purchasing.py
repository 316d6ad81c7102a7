"""Suppliers, the catalogue's supplier column, and the purchasing sheet (CLI, console, CSV)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

import db.catalog
import db.ledger
import db.orders
import db.people
import db.supply
from db.session import Database
from gateway.cli import main
from gateway.orders.catalog import from_product, read_csv_text, write_csv
from gateway.orders.supply import PURCHASING_CSV_COLUMNS, purchasing_sheet, sheet_csv

TZ = ZoneInfo("Asia/Shanghai")
RICE = {"sku": "rice", "name": "大米", "quantity": 2, "unit": "袋"}
CABBAGE = {"sku": "cabbage", "name": "大白菜", "quantity": 1, "unit": "颗"}
EGGS = {"sku": "eggs", "name": "鸡蛋", "quantity": 1, "unit": "板"}


async def _order(database: Database, phone: str, items: list[dict[str, Any]],
                 status: str = "confirmed", at: datetime | None = None) -> int:
    async with database.session() as s:
        resident = await db.people.resident_by_phone(s, phone)
        order = await db.orders.create(s, channel="sms", phone=phone, status=status,
                                       actor="test", items=items, resident=resident)
        if at is not None:
            order.created_at = at
        return order.id


async def test_catalog_supplier_column_round_trips_and_creates_suppliers(
        database: Database) -> None:
    items = read_csv_text("sku,name,unit,price,supplier\nrice,大米,袋,45,县粮油公司\n"
                          "salt,食盐,包,2.5,\n")
    async with database.session() as s:
        await db.catalog.import_items(s, items)
    async with database.session() as s:
        names = [sup.name for sup, _ in await db.supply.list_suppliers(s)]
        out = write_csv(from_product(p) for p in await db.catalog.list_products(s))
    assert names == ["县粮油公司"]
    again = {it.sku: it.extra["supplier"] for it in read_csv_text(out)}
    assert again == {"rice": "县粮油公司", "salt": ""}
    # A file without the column leaves the suppliers as they are.
    async with database.session() as s:
        await db.catalog.import_items(s, read_csv_text("sku,name,unit,price\nrice,大米,袋,46\n"))
    async with database.session() as s:
        assert (await db.catalog.get_by_sku(s, "rice")).supplier == "县粮油公司"  # type: ignore[union-attr]


async def test_sheet_per_supplier_counts_households_and_villages(
        demo_database: Database) -> None:
    database = demo_database
    now = datetime.now(UTC)
    a = await _order(database, "+8613800000001", [RICE, CABBAGE])
    await _order(database, "+8613800000001", [RICE | {"quantity": 1}], status="accepted")
    await _order(database, "+8613800000002", [RICE, EGGS])
    # Not counted: bought already, cancelled, a draft, or another day.
    await _order(database, "+8613800000003", [RICE | {"quantity": 9}], status="purchased")
    await _order(database, "+8613800000003", [RICE | {"quantity": 9}], status="cancelled")
    await _order(database, "+8613800000003", [RICE | {"quantity": 9}], status="draft")
    await _order(database, "+8613800000003", [RICE | {"quantity": 9}],
                 at=now - timedelta(days=3))
    async with database.session() as s:
        villages = {r.phone: r.village for r in await db.people.list_residents(s)}
        sheet = await purchasing_sheet(s, now.astimezone(TZ).date(), TZ)
    assert [sup for sup, _ in sheet.groups] == ["县粮油公司", "城南蔬菜批发市场", ""]
    rice = sheet.groups[0][1][0]
    assert (rice.sku, rice.quantity, rice.unit, rice.households) == ("rice", Decimal(5), "袋", 2)
    assert rice.villages == sorted({villages["+8613800000001"], villages["+8613800000002"]})
    assert sheet.groups[2][1][0].sku == "eggs"
    assert sheet.households == 2
    rows = list(csv.reader(io.StringIO(sheet_csv(sheet))))
    assert tuple(rows[0]) == PURCHASING_CSV_COLUMNS
    assert rows[1][:6] == ["县粮油公司", "rice", "大米", "袋", "5", "2"]
    assert a > 0


@pytest.fixture
def run(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for k in list(os.environ):
        if k.startswith(("DOORSTEP_", "TWILIO_", "TELEGRAM_")):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", db_url)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_cli_suppliers_and_purchasing(run: Any, db_url: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.orders.demo import load_demo

    async def setup() -> None:
        database = Database(db_url)
        try:
            await load_demo(database, "zh-CN")
            await _order(database, "+8613800000001", [RICE, CABBAGE],
                         at=datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
        finally:
            await database.dispose()

    asyncio.run(setup())
    assert "added supplier 县肉联厂" in run("suppliers", "add", "--name", "县肉联厂",
                                            "--phone", "+8657200000103").output
    listed = run("suppliers", "list").output
    assert "县肉联厂\t+8657200000103\t0 products" in listed and "县粮油公司" in listed
    # The order at 23:30 UTC on the 1st is on the 2nd in Asia/Shanghai (the default zone).
    out = run("purchasing", "--date", "2026-12-02", "--format", "csv").output
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["supplier", "sku", "name", "unit", "quantity", "households", "villages"]
    assert rows[1][:6] == ["县粮油公司", "rice", "大米", "袋", "2", "1"]
    assert rows[2][:2] == ["城南蔬菜批发市场", "cabbage"]
    assert "nothing to buy" in run("purchasing", "--date", "2026-12-01").output
    monkeypatch.setenv("DOORSTEP_TIMEZONE", "UTC")
    assert "[县粮油公司]" in run("purchasing", "--date", "2026-12-01").output
    bad = run("purchasing", "--date", "12/01", ok=False)
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_cli_ledger_shows_entries_and_records_a_handover(run: Any, db_url: str) -> None:
    from gateway.orders.demo import load_demo

    async def setup() -> str:
        database = Database(db_url)
        try:
            await load_demo(database, "zh-CN")
            async with database.session() as s:
                leader = (await db.people.list_leaders(s))[0]
                await db.ledger.add(s, leader_id=leader.id, kind="received",
                                    amount=Decimal("90"), actor="leader", order_id=None)
                return leader.phone
        finally:
            await database.dispose()

    phone = asyncio.run(setup())
    out = run("ledger").output
    assert "received 90.00\thanded over 0\tbalance 90.00" in out
    out = run("ledger", "--leader", phone, "--handover", "60", "--note", "周一").output
    assert "handed_over\t-60.00" in out and "周一" in out
    assert out.strip().endswith("received 90.00, handed over 60.00, balance 30.00")
    assert run("ledger", "--leader", phone, "--handover", "-1", ok=False).exit_code == 2
    assert run("ledger", "--leader", "+860000", ok=False).exit_code == 1
