"""Whole Chinese calls with a caller who listens: what a resident leaves the call with.

The accuracy runs of bench_voice say 是 to whatever is read back. A real caller checks the
read-back: right, they say 是; wrong, they say 不对 and, asked again, say the order once more, a
little slower (tempo x 0.9). After a second miss the gateway offers the keypad menu; this caller
stays silent there and is asked for a message, which becomes an order for a person to enter.
Each call ends in one of: the right order confirmed by voice (first time, or after a no), a
wrong order confirmed (the read-back seemed right to the caller: never, with this caller), a
message for a person, or nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from voice.audio import silence_ulaw, ulaw_encode

READBACK = "您要的是："
SLOWER = 0.9  # a caller asked again says it more slowly


def readback_items(lang: Any, heard: str) -> tuple[Any, ...] | None:
    """The items of a read-back prompt as a comparable key (None: not a read-back)."""
    if READBACK not in heard:
        return None
    said = heard.split(READBACK, 1)[1].split("。", 1)[0]
    return tuple(sorted((i.sku, float(i.quantity), i.unit) for i in lang.parse(said).items))


def listening_caller(base: type) -> type:
    """A Caller (gateway.channels.twilio.simulate_call) that chooses what to say from what it
    last heard, instead of a fixed list."""

    class Listening(base):  # type: ignore[misc, valid-type]
        def __init__(self, twilio: Any, phone: str, *, want: tuple[Any, ...], lang: Any,
                     say: Callable[[str, float], bytes], text: str, tempo: float) -> None:
            super().__init__(twilio, phone, [], "")
            self._spoke_all = False  # no keys at all: answers are spoken
            self.want, self.lang, self.say, self.text, self.tempo = want, lang, say, text, tempo
            self.attempts = 0

        async def _stream(self, http: Any, url: str, custom: Any = None) -> None:
            heard = self.log.heard[-1] if self.log.heard else ""
            got = readback_items(self.lang, heard)
            if got is not None:
                audio = self.say("是" if got == self.want else "不对", self.tempo)
            else:
                audio = self.say(self.text, self.tempo * SLOWER ** self.attempts)
                self.attempts += 1
            self.speech = [silence_ulaw(0.4) + ulaw_encode(audio) + silence_ulaw(1.2)]
            await super()._stream(http, url, custom)
            self._spoke_all = False

    return Listening


async def dialogue_calls(tmp: Path, lines: list[tuple[str, str]], tempos: tuple[float, ...],
                         gateway: Callable[..., Any], phone: str) -> dict[float, dict[str, Any]]:
    """Each line as a call with a listening caller, at each tempo; counts by outcome."""
    from bench.bench_voice import _items_key, _last_order, _order_key
    from gateway.channels.twilio.simulate_call import Caller
    from gateway.language import compile_language
    from gateway.orders.catalog import read_csv
    from gateway.orders.demo import demo_file
    from voice import synth

    lang = compile_language("zh-CN", read_csv(demo_file("catalog", "zh-CN")))
    bank = synth.WordBank(synth.PERSON_BANK, synth.order_words(lang.snap_phrases()))
    cls = listening_caller(Caller)
    client, twilio, database, _pool, _load = await gateway(
        tmp, "zh-CN", {"zh-CN": "whisper"}, f"dialogue-{len(lines)}")
    out: dict[float, dict[str, Any]] = {}
    try:
        for tempo in tempos:
            counts = {"calls": 0, "first": 0, "second": 0, "wrong": 0, "message": 0, "none": 0}
            for _said, text in lines:
                want = _order_key(lang, text)
                before = await _last_order(database)
                caller = cls(twilio, phone, want=want, lang=lang, text=text, tempo=tempo,
                             say=lambda t, v: bank.say(t, tempo=v))
                await caller.run()
                order = await _last_order(database)
                counts["calls"] += 1
                if order is None or (before is not None and order.id == before.id):
                    counts["none"] += 1
                elif order.status == "confirmed" and _items_key(order.items) == want:
                    counts["first" if caller.attempts == 1 else "second"] += 1
                elif order.status == "confirmed":
                    counts["wrong"] += 1
                else:
                    counts["message"] += 1
            out[tempo] = counts
    finally:
        await client.close()
        await database.dispose()
    return out


def report(results: dict[str, dict[float, dict[str, Any]]], out: dict[str, Any]) -> None:
    print("")
    print("zh-CN calls with a caller who says 不对 to a wrong read-back and says the order again"
          " (person's voice):")
    print(f"{'corpus':>18} {'tempo':>6} {'calls':>6} {'right, 1st':>11} {'right, 2nd':>11} "
          f"{'right in all':>13} {'message':>8} {'wrong':>6} {'none':>5}")
    for corpus, by_tempo in results.items():
        for tempo, c in by_tempo.items():
            n = c["calls"]
            right = c["first"] + c["second"]
            print(f"{corpus:>18} {tempo:>6} {n:>6} {c['first']:>5} ({c['first'] / n:>4.0%}) "
                  f"{c['second']:>5} ({c['second'] / n:>4.0%}) {right:>6} ({right / n:>4.0%}) "
                  f"{c['message']:>8} {c['wrong']:>6} {c['none']:>5}")
            key = f"zh_dialogue_{corpus}_{tempo}"
            out[f"{key}_right"] = right / n
            out[f"{key}_message"] = c["message"] / n
