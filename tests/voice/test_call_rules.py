"""The call's dialogue rules (gateway.conversation.call) on plain data: no server, no database."""

from __future__ import annotations

from gateway.conversation import call as rules
from gateway.conversation.call import (
    Alternative,
    CallState,
    Facts,
    HangUp,
    Heard,
    Key,
    Recorded,
    Silence,
    Timeout,
    step,
)

RICE = {"sku": "rice", "name": "大米", "quantity": "2", "unit": "袋", "source": "大米两袋"}
EGGS = {"sku": "eggs", "name": "鸡蛋", "quantity": "1", "unit": "板", "source": "鸡蛋一板"}
MENU = ({"sku": "noodles", "name": "面条", "unit": "把"}, {"sku": "rice", "name": "大米", "unit": "袋"})
NOTHING = Facts(last_items=(), menu=())  # nothing to offer on the keypad: a message instead
KEYS = Facts(last_items=(RICE, EGGS), menu=MENU)


def caller(**kw: object) -> CallState:
    return rules.start(locale="zh-CN", phone="+8613800000001", resident_id=1, name="王奶奶")


def said(*alts: Alternative) -> Heard:
    return Heard("speech", alts)


def order(text: str, *items: dict[str, str]) -> Alternative:
    return Alternative(text, "order", tuple(items))


def test_a_stranger_is_asked_for_a_message() -> None:
    st = rules.start(locale="ko-KR", phone="+8210", resident_id=None, name="")
    assert (st.state, st.reason) == ("unknown", "unknown")
    assert rules.template(st, Facts()) == "unknown"


def test_an_order_is_read_back_then_confirmed_by_key_1() -> None:
    st = step(caller(), said(order("大米两袋", RICE))).state
    assert (st.state, st.items, st.prompt, st.transcripts) == ("readback", [RICE], "first",
                                                               ["大米两袋"])
    done = step(st, Key("1"))
    assert done.order == "confirmed" and done.state.state == "done"
    assert rules.template(done.state, Facts()) == "confirmed"


def test_the_first_alternative_that_means_something_is_used_and_kept() -> None:
    r = step(caller(), said(Alternative("呜呜"), Alternative("哎呀", "unknown"),
                            order("大米两袋", RICE)))
    assert r.used == "大米两袋" and r.state.transcripts == ["大米两袋"]
    r = step(r.state, said(Alternative("呜"), Alternative("对", "confirm")))
    assert r.order == "confirmed" and r.state.transcripts == ["大米两袋", "对"]


def test_nothing_understood_keeps_the_best_guess_and_asks_again() -> None:
    r = step(caller(), said(Alternative("呜呜呜"), Alternative("呜呜")))
    assert (r.state.state, r.state.prompt, r.state.failures) == ("listen", "not_understood", 1)
    assert r.state.transcripts == ["呜呜呜"] and r.order == ""


def test_two_silences_lead_to_a_message() -> None:
    st = step(caller(), Heard("no_speech")).state
    assert (st.state, st.prompt) == ("listen", "no_speech")
    st = step(st, Heard("no_speech"), NOTHING).state
    assert (st.state, st.reason) == ("record", "attempts")
    r = step(st, Recorded(new=True))
    assert (r.state.state, r.order, r.reason) == ("left", "needs_review", "not understood twice")


def test_recognition_failure_asks_for_a_message() -> None:
    st = step(caller(), Heard("failed"), NOTHING).state
    assert (st.state, st.reason) == ("record", "failed")
    assert rules.give_up(caller()).reason == "failed"


def test_key_3_orders_the_last_order_again_or_says_there_is_none() -> None:
    st = step(caller(), Key("3"), Facts(last_items=(RICE, EGGS))).state
    assert (st.state, st.prompt, st.items) == ("readback", "repeat", [RICE, EGGS])
    st = step(caller(), Key("3"), Facts(last_items=())).state
    assert (st.state, st.prompt) == ("listen", "none_to_repeat")
    st = step(caller(), said(Alternative("和上次一样", "repeat")), Facts(last_items=(EGGS,))).state
    assert st.items == [EGGS] and st.transcripts == ["和上次一样"]


def test_key_2_and_a_spoken_no_say_it_again_and_count_as_a_failure() -> None:
    st = step(caller(), said(order("大米两袋", RICE))).state
    again = step(st, Key("2")).state
    assert (again.state, again.prompt, again.items, again.failures) == ("listen", "again", [], 1)
    no = step(st, said(Alternative("不要", "cancel"))).state
    assert (no.state, no.failures) == ("listen", 1)
    assert step(again, said(Alternative("嗯嗯")), NOTHING).state.state == "record"


def test_a_read_back_said_no_to_is_not_offered_again() -> None:
    """The order said again is heard the same wrong way: its next reading is read back; with
    none left, it counts as not understood (a second failure: the keypad menu)."""
    wrong, right = order("大米两袋", RICE), order("鸡蛋一板", EGGS)
    st = step(caller(), said(wrong, right)).state
    for no in (Key("2"), said(Alternative("不对", "cancel"))):
        again = step(st, no).state
        assert again.rejected == [rules.items_key([RICE])] and again.state == "listen"
        nxt = step(again, said(wrong, right)).state
        assert (nxt.state, nxt.items) == ("readback", [EGGS])
        # a correction at the read-back skips it too
        assert step(nxt, said(wrong, right)).state.items == [EGGS]
        only = step(again, said(wrong), KEYS).state
        assert (only.state, only.reason) == ("keypad", "attempts")
    # saying the quantity differently is another order
    more = dict(RICE, quantity="3")
    assert step(step(st, Key("2")).state, said(order("大米三袋", more))).state.items == [more]


def test_key_0_records_and_a_key_ends_the_utterance_with_its_words() -> None:
    st = step(caller(), said(order("大米两袋", RICE))).state
    r = step(st, Key("0", heard="嗯"))
    assert (r.state.state, r.state.reason, r.state.transcripts) == ("record", "key",
                                                                   ["大米两袋", "嗯"])
    assert rules.review_reason(r.state) == "the caller chose to leave a message"


def test_a_correction_at_the_read_back_keeps_the_count() -> None:
    """A noisy line that sounds like a new order each time still ends in a message."""
    st = step(caller(), said(order("大米两袋", RICE))).state
    seen = 0
    while st.state == "readback" and seen < 20:
        st = step(st, Timeout()).state  # Twilio fetches /next: the read-back is heard
        if st.state != "readback":
            break
        seen += 1
        st = step(st, said(order("鸡蛋一板", EGGS))).state
        assert st.prompt == "corrected" and st.items == [EGGS]
    assert (st.state, st.reason, seen) == ("record", "no_confirm", rules.MAX_READBACKS)


def test_silence_at_the_read_back_reads_it_again_three_times() -> None:
    st = step(caller(), said(order("大米两袋", RICE))).state
    for _ in range(rules.MAX_READBACKS):
        st = step(st, Timeout()).state
        assert st.state == "readback"
        st = step(st, Heard("no_speech")).state
    assert step(st, Timeout()).state.reason == "no_confirm"


def test_hanging_up() -> None:
    r = step(caller(), HangUp(spoke=True, heard="大米两袋"))
    assert (r.state.state, r.order, r.reason) == ("done", "needs_review", "the caller hung up")
    assert r.state.transcripts == ["大米两袋"]
    r = step(caller(), HangUp(spoke=False))
    assert (r.state.state, r.order) == ("hangup", "")


def test_a_message_is_kept_once() -> None:
    st = step(caller(), Key("0")).state
    r = step(st, Recorded(new=True))
    assert r.order == "needs_review" and r.state.state == "left"
    again = step(r.state, Recorded(new=True))
    assert again.order == "" and not rules.wants_message(r.state)
    assert step(st, Recorded(new=False)).order == ""


# --- the keypad ---------------------------------------------------------------------------------

def keypad(facts: Facts = KEYS) -> CallState:
    st = step(caller(), Heard("no_speech")).state
    return step(st, Heard("no_speech"), facts).state


def press(st: CallState, keys: str) -> CallState:
    for k in keys:
        st = step(st, Key(k)).state
    return st


def test_speech_failing_twice_moves_to_the_keypad_menu() -> None:
    st = step(caller(), Heard("no_speech")).state
    asked = step(st, Heard("no_speech"))  # facts are loaded only when they are needed
    assert asked.needs == ("last_items", "menu") and asked.state == st
    assert step(caller(), Key("3")).needs == ("last_items",)
    assert step(caller(), said(order("大米两袋", RICE))).needs == ()
    st = step(st, Heard("no_speech"), KEYS).state
    assert (st.state, st.reason, st.prompt, st.keypad) == ("keypad", "attempts", "first", True)
    assert st.usual == [RICE, EGGS]
    # each menu item comes with the quantity the caller usually takes
    assert [(m["sku"], m["quantity"], m["unit"]) for m in st.menu] == [("noodles", "1", "把"),
                                                                       ("rice", "2", "袋")]
    assert rules.template(st, Facts()) == "keypad" and not rules.hears(st)
    failed = step(caller(), Heard("failed"), KEYS).state
    assert (failed.state, failed.reason) == ("keypad", "failed")


def test_a_locale_without_a_recogniser_starts_on_the_keypad() -> None:
    st = rules.start(locale="ko-KR", phone="+8210", resident_id=3, name="김순자",
                     facts=Facts(can_listen=False, last_items=(), menu=MENU))
    assert (st.state, st.reason, st.usual) == ("keypad", "failed", [])
    assert press(st, "9").prompt == "none_to_repeat"
    assert press(st, "0").state == "record"  # the recording is still there


def test_the_usual_order_in_two_keys() -> None:
    st = press(keypad(), "9")
    assert (st.state, st.items, st.prompt, st.keypad) == ("readback", [RICE, EGGS], "repeat", True)
    r = step(st, Key("1"))
    assert r.order == "confirmed" and r.state.items == [RICE, EGGS]


def test_items_quantities_and_finishing() -> None:
    st = press(keypad(), "2")  # rice
    assert (st.state, st.choice) == ("quantity", 1)
    st = press(st, "12")
    assert (st.state, st.digits, st.prompt) == ("quantity", "12", "digit")
    st = press(st, "3#")  # two digits at most
    assert (st.state, st.prompt, st.items[0]["quantity"]) == ("keypad", "added", "12")
    st = press(st, "1#")  # noodles, the usual quantity
    st = press(st, "20#")  # rice again, none after all
    assert st.prompt == "removed" and [i["sku"] for i in st.items] == ["noodles"]
    assert press(st, "7").prompt == "invalid" and press(st, "*").prompt == "menu"
    st = press(st, "#")
    assert (st.state, st.prompt, [i["sku"] for i in st.items]) == ("readback", "first",
                                                                   ["noodles"])
    st = press(st, "2")  # back to the menu, not to speech
    assert (st.state, st.prompt, st.items) == ("keypad", "again", [])
    assert press(st, "#").prompt == "empty"
    assert press(st, "1*").state == "keypad"  # * leaves the quantity


def test_silence_on_the_keypad() -> None:
    st = press(keypad(), "1")
    st = step(step(st, Key("3")).state, Silence()).state  # a number and no #: taken
    assert st.items[0]["quantity"] == "3" and st.state == "keypad"
    st = step(st, Silence()).state
    assert (st.state, st.prompt) == ("keypad", "menu")
    st = step(st, Silence()).state
    assert (st.state, st.reason) == ("record", "attempts")
    assert rules.review_reason(st) == "not understood twice"
    # Twilio coming back after the socket moved the call to the menu is not a silence
    assert step(keypad(), Timeout()).state == keypad()


def test_a_key_resets_the_silences() -> None:
    st = step(keypad(), Silence()).state
    st = step(press(st, "*"), Silence()).state
    assert st.state == "keypad"


def test_rules_never_change_the_state_they_are_given() -> None:
    st = step(caller(), said(order("大米两袋", RICE))).state
    before = CallState.from_json(st.state, st.draft(), st.failures, st.locale)
    step(st, said(order("鸡蛋一板", EGGS)))
    step(st, Key("2"))
    assert st == before


def test_which_keys_end_listening() -> None:
    assert rules.ends_listening("listen", "#") and rules.ends_listening("readback", "#")
    assert rules.ends_listening("listen", "3") and not rules.ends_listening("listen", "2")
    assert rules.ends_listening("readback", "1") and not rules.ends_listening("readback", "3")


def test_listening_without_a_recogniser_renders_a_message() -> None:
    assert rules.template(caller(), Facts(can_listen=False)) == "record"
    assert rules.template(caller(), Facts(can_listen=True)) == "listen"


def test_the_rules_import_only_the_standard_library() -> None:
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(rules.__file__).read_text(encoding="utf-8"))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= set(sys.stdlib_module_names) | {"__future__"}, names


def test_key_1_while_listening_opens_the_keypad_menu() -> None:
    """No speech at all, even where speech is heard: 1 at the greeting goes to the menu."""
    assert rules.ends_listening("listen", "1")
    st = step(caller(), Key("1"), KEYS).state
    assert (st.state, st.reason, st.prompt) == ("keypad", "keys", "first")
    # the usual order (9) and done (#): read back, 1 confirms
    st = step(step(st, Key("9"), KEYS).state, Key("#"), KEYS).state
    assert st.state == "readback" and st.items == [RICE, EGGS]
    # silence there leads to a message, for no keys pressed
    quiet = step(step(caller(), Key("1"), KEYS).state, Silence()).state
    assert step(quiet, Silence()).state.reason == "no_keys"
    # nothing to offer: a message
    assert step(caller(), Key("1"), NOTHING).state.state == "record"
