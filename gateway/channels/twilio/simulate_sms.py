"""`doorstep simulate sms`: text a running gateway exactly as Twilio would, print its answers.

Each text is posted to /twilio/sms as a Twilio inbound-message webhook (form fields as Twilio
sends them, a fresh MessageSid, `X-Twilio-Signature` computed by the twilio library against
DOORSTEP_PUBLIC_URL), one after the other, so several texts play a whole conversation.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.parse
import urllib.request

import click

from gateway.channels.twilio.webhook_client import (
    DEFAULT_ACCOUNT_SID,
    SMS_PATH,
    Twilio,
    inbound_form,
    twiml_texts,
)

PATH = SMS_PATH


def post_text(base_url: str, public_url: str, token: str, form: dict[str, str],
              timeout: float = 15.0) -> tuple[int, str]:
    """POST one signed webhook; (HTTP status, body)."""
    twilio = Twilio(base_url, public_url, token)
    request = urllib.request.Request(
        twilio.local(PATH), data=urllib.parse.urlencode(form).encode(),
        headers={**twilio.sign(twilio.public(PATH), form),
                 "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 (our gateway)
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


@click.command("sms")
@click.option("--from", "phone", required=True, help="The resident's number, e.g. +8613800000001.")
@click.option("--to", default=None, help="The co-operative's number (default TWILIO_FROM_NUMBER).")
@click.option("--url", default=None, help="Where the gateway listens (default "
              "http://DOORSTEP_HOST:DOORSTEP_PORT).")
@click.option("--sid", default=None, help="MessageSid of a single text (to replay a retry).")
@click.argument("texts", nargs=-1)
def sms(phone: str, to: str | None, url: str | None, sid: str | None,
        texts: tuple[str, ...]) -> None:
    """Send TEXTS (or one text per line of stdin) as the resident and print each answer."""
    from gateway.cli.common import cli_settings as _settings, twilio_token
    from gateway.orders.people import PeopleError, normalize_phone

    settings = _settings()
    try:
        phone = normalize_phone(phone)
    except PeopleError as exc:
        raise click.ClickException(f"--from: {exc}") from None
    token = twilio_token(settings)
    if sid and len(texts) != 1:
        raise click.ClickException("--sid goes with exactly one text")
    base = url or f"http://{settings.host}:{settings.port}"
    lines = list(texts) or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for body in lines:
        form = inbound_form(phone, body, to=to or settings.twilio_from_number or "+10000000000",
                            account_sid=settings.twilio_account_sid or DEFAULT_ACCOUNT_SID, sid=sid)
        try:
            status, answer = post_text(base, settings.public_url, token, form)
        except (urllib.error.URLError, OSError) as exc:
            raise click.ClickException(f"cannot reach the gateway at {base}: {exc}") from None
        click.echo(f"> {body}")
        if status != 200:
            raise click.ClickException(f"{PATH}: HTTP {status} {answer[:200]}")
        for text in twiml_texts(answer) or ["(no answer)"]:
            click.echo(text)
