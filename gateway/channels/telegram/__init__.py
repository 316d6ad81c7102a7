"""Telegram adapter: the team leaders' bot, operator alerts, and the outbox sender."""
