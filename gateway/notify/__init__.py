"""Messages out: the outbox worker that sends queued SMS and Telegram messages with retries,
and the resident texts queued on order events. Senders are registered by the channels."""
