"""Vendor and HTTP edges: each subpackage speaks one protocol and translates it to plain calls
into conversation, orders and dispatch. Only these (and cli/, app.py) import aiohttp, aiogram or
twilio."""
