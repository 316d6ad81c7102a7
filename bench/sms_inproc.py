"""CPU per text of the SMS conversation in process: `SmsGateway.receive` called directly, no
HTTP, on a fresh database (SQLite file or a new PostgreSQL database), texts-mix traffic.

    python -m bench.sms_inproc                       # SQLite, hot path on
    python -m bench.sms_inproc --database postgresql --no-hot-path
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import load


async def run(database: str = "sqlite", texts: int = 3000, hot_path: bool = True
              ) -> dict[str, Any]:
    from gateway.app import create_app
    from gateway.settings import Settings
    from gateway.channels.twilio.webhook_client import inbound_form
    from gateway.channels.twilio.sms import SMS, InboundSms

    work = Path(tempfile.mkdtemp(prefix="doorstep-inproc-"))
    created = None
    url = f"sqlite:///{work / 'inproc.db'}" if database == "sqlite" else \
        (created := load.create_pg_database())
    phones = load.resident_phones(200)
    try:
        await load.prepare_database(url, phones)
        settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                            public_url="http://127.0.0.1", twilio_auth_token=load.TWILIO_TOKEN,
                            twilio_account_sid=load.ACCOUNT_SID, data_dir=work / "data",
                            telegram_mode="off", voice_workers=0, sms_rate_limit=0,
                            sms_hot_path=hot_path)
        app = create_app(settings, workers=False)
        gateway = app[SMS]
        orders = load.ORDERS_BY_LOCALE["zh-CN"]

        def texts_of(n: int) -> list[InboundSms]:
            # as bench.load's texts mix: every resident an order text, then "cancel", and so on
            return [InboundSms.from_form(inbound_form(
                phones[i % len(phones)],
                orders[(i // 400) % len(orders)][0] if (i // len(phones)) % 2 == 0
                else load.CANCEL["zh-CN"], to=load.SERVICE_NUMBER, account_sid=load.ACCOUNT_SID))
                for i in range(n)]

        for msg in texts_of(400):  # warm: connections, the compiled catalogue
            await gateway.receive(msg)
        batch = texts_of(texts)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for msg in batch:
            await gateway.receive(msg)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await gateway.services.db.dispose()
    finally:
        if created:
            load.drop_pg_database(created)
    return {"database": database, "hot_path": hot_path, "texts": texts,
            "cpu_ms_per_text": round(cpu / texts * 1000, 3),
            "wall_ms_per_text": round(wall / texts * 1000, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database", default="sqlite", choices=("sqlite", "postgresql"))
    ap.add_argument("--texts", type=int, default=3000)
    ap.add_argument("--no-hot-path", dest="hot_path", action="store_false")
    args = ap.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.database, args.texts, args.hot_path))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
