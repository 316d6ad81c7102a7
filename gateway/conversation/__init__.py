"""Dialogue rules as pure functions: what a text or a call step means for the draft order and
what to answer (`sms.decide`), and fitting replies into SMS segments (`reply_text`). Plain data
in and out: imports the language and the lifecycle, never db, channels or vendors."""
