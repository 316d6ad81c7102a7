"""Doorstep's gateway, laid out in the order a message travels:

channels (twilio, telegram, console, http_api: vendor protocols only) -> language (text to intent
and items) -> conversation (dialogue rules) -> orders (lifecycle, events, catalogue, people) ->
dispatch (nearest leader) -> notify (outbox, texts to residents). `app.py` composes the parts,
`services.py` carries what they share, `settings.py` reads the environment, `cli/` is the
`doorstep` command. Inner rooms never import outer ones (tests/architecture/test_imports.py).
"""
