"""End-pointing: start, 0.8 s of trailing silence, 20 s cap, 8 s without speech, clicks, #."""

from __future__ import annotations

from voice.endpoint import EndpointConfig, Endpointer, Event

SPEECH, QUIET = 3000.0, 20.0


def run(ep: Endpointer, values: list[float]) -> list[tuple[int, Event]]:
    out = []
    for i, v in enumerate(values):
        ev = ep.push(v)
        if ev is not Event.NONE:
            out.append((i, ev))
    return out


def test_speech_then_silence_ends_after_0_8_s() -> None:
    ep = Endpointer()
    events = run(ep, [QUIET] * 25 + [SPEECH] * 50 + [QUIET] * 100)
    assert events[0] == (25 + 4, Event.START)  # 0.1 s of voiced frames start it
    assert events[1] == (75 + 40 - 1, Event.END)
    assert ep.reason == "silence" and ep.started_at == 25


def test_short_pauses_inside_speech_do_not_end_it() -> None:
    ep = Endpointer()
    pattern = ([SPEECH] * 20 + [QUIET] * 30) * 5 + [QUIET] * 60
    events = run(ep, pattern)
    assert [e for _, e in events] == [Event.START, Event.END]
    assert events[1][0] == 220 + 39  # the last burst ends at frame 220


def test_nothing_said_times_out_at_8_s() -> None:
    ep = Endpointer()
    assert run(ep, [QUIET] * 500) == [(399, Event.TIMEOUT)]
    assert ep.reason == "timeout" and ep.push(SPEECH) is Event.NONE


def test_clicks_do_not_start_speech() -> None:
    ep = Endpointer()
    assert run(ep, ([SPEECH] * 2 + [QUIET] * 10) * 40) == [(399, Event.TIMEOUT)]


def test_endless_speech_is_cut_at_20_s() -> None:
    ep = Endpointer()
    events = run(ep, [SPEECH] * 2000)
    assert events[-1] == (999, Event.END) and ep.reason == "max_length"


def test_steady_line_noise_is_not_speech_but_speech_over_it_is() -> None:
    ep = Endpointer()
    assert run(ep, [250.0] * 100) == []
    assert ep.threshold() > 300
    assert run(ep, [SPEECH] * 10)[0][1] is Event.START


def test_force_end() -> None:
    ep = Endpointer()
    run(ep, [SPEECH] * 10)
    assert ep.force_end() is Event.END and ep.reason == "forced"
    quiet = Endpointer()
    assert quiet.force_end() is Event.TIMEOUT
    assert quiet.force_end() is Event.NONE


def test_config_is_respected() -> None:
    ep = Endpointer(EndpointConfig(end_silence_s=0.2, no_speech_s=1.0))
    assert run(ep, [QUIET] * 60) == [(49, Event.TIMEOUT)]
