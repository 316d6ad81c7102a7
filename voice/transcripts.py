"""Whisper's transcripts cleaned before they are snapped to the order grammar (pure).

Whisper base, given a prompt of example orders, sometimes writes the prompt out instead of what
was heard, adds an example after it, or loops. These find and cut that.
"""

from __future__ import annotations

import re


def copies_prompt(text: str, prompt: str) -> bool:
    """Whether `text` writes out the prompt rather than what was said: 4 characters in a row
    of its preamble (before "：", 以下是普通话的句子 -> snapped to 同桔子), or 10 of the rest
    (the examples, looped). Whisper base does this when it hears little."""
    bare = "".join(c for c in text if c.isalnum())
    head, _, rest = prompt.partition("：") if "：" in prompt else ("", "", prompt)
    for part, run in ((head, 4), (rest, 10)):
        plain = "".join(c for c in part if c.isalnum())
        if plain and len(bare) >= run and \
                any(bare[i:i + run] in plain for i in range(len(bare) - run + 1)):
            return True
    return False


def cut_loop(text: str, run: int = 3) -> str:
    """`text` up to where it starts over: Whisper base loops (三斤桔子，感冒药三和三斤桔子，…;
    再来再来再来…). Cut before the second occurrence of any `run` characters in a row
    (punctuation not counted); nobody says the same three syllables twice in one order."""
    keep = [i for i, c in enumerate(text) if c.isalnum()]
    bare = "".join(text[i] for i in keep)
    seen: set[str] = set()
    for j in range(len(bare) - run + 1):
        piece = bare[j:j + run]
        if piece in seen:
            return text[:keep[j]].rstrip("，,。. ")
        seen.add(piece)
    return text


PUNCT = re.compile(r"[，,。.、；;：:！!？?\s]+")  # what separates spoken pieces


def drop_prompt_echo(text: str, prompt: str) -> str:
    """Later sentence pieces that are word for word an example of the prompt are dropped:
    Whisper base adds them after what it heard (大米两袋 -> 大米两袋，面条三把). The first piece
    stays, whatever it is."""
    examples = {p for p in PUNCT.split(prompt) if len(p) >= 2}
    pieces = [p for p in PUNCT.split(text) if p]
    if len(pieces) < 2 or not examples:
        return text
    kept = pieces[:1] + [p for p in pieces[1:] if p not in examples]
    return "，".join(kept)
