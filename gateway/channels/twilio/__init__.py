"""Twilio: the SMS webhook, the voice webhooks and Media Streams socket, signature checks, the
REST client, and the signed-webhook clients behind `doorstep simulate`. May import every inner
room; nothing inside gateway imports this package except app.py, cli/ and the console's try-it."""
