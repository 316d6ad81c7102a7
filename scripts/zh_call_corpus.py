"""Write a corpus of synthetic zh-CN phone orders (tone pinyin for espeak-ng, and the order
text that the person's recorded words say) from the demo catalogue.

    python scripts/zh_call_corpus.py --seed 2027 --lines 45 > tests/voice/data/FILE.tsv

The shapes are those of the real-world order texts in tests/language/realworld (openers 我要,
要, 帮我买, 给我来, 来; counts before or after the name; items run together without a pause,
or after a comma, or after 还有; half quantities, 白糖半袋), said aloud. Only orders that the
recordings in voice/data/cmn-tan can say and that the order language parses are kept.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COUNTS = ["一", "两", "三", "四", "五", "六", "七", "八", "九", "十", "半"]
COUNT_WEIGHTS = [14, 16, 10, 5, 8, 3, 3, 3, 3, 6, 3]
OPENERS = {"": 30, "我要": 20, "要": 10, "帮我买": 15, "给我来": 10, "来": 15}
ITEMS = {1: 45, 2: 40, 3: 15}
SEPARATORS = {"，": 50, "": 25, "，还有": 25}
HALF_UNITS = ("斤", "袋")


def pick(rnd: random.Random, weights: dict) -> object:
    return rnd.choices(list(weights), list(weights.values()))[0]


def tone_pinyin(text: str) -> str:
    from pypinyin import Style, lazy_pinyin

    out = []
    for chunk in text.replace("，", " , ").split():
        if chunk == ",":
            out.append(",")
        else:
            out.extend(lazy_pinyin(chunk, style=Style.TONE3, neutral_tone_with_five=True))
    return " ".join(out)


def main() -> None:
    from gateway.language import compile_language
    from gateway.orders.catalog import read_csv
    from gateway.orders.demo import demo_file
    from voice import synth

    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--lines", type=int, default=45)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    catalog = read_csv(demo_file("catalog", "zh-CN"))
    lang = compile_language("zh-CN", catalog)
    bank = synth.WordBank(synth.PERSON_BANK, synth.order_words(lang.snap_phrases()))
    goods = [c for c in catalog if bank.can_say(c.name)]
    seen: set[str] = set()
    lines: list[tuple[str, str]] = []
    while len(lines) < args.lines:
        n = pick(rnd, ITEMS)
        chosen = rnd.sample(goods, n)
        parts = []
        for item in chosen:
            unit = item.unit if rnd.random() < 0.85 else rnd.choice(item.units)
            count = rnd.choices(COUNTS, COUNT_WEIGHTS)[0]
            if count == "半" and unit not in HALF_UNITS:
                count = "一"
            if count == "两" and unit == "斤" and rnd.random() < 0.2:
                count = "二"
            said = f"{item.name}{count}{unit}" if rnd.random() < 0.5 else \
                f"{count}{unit}{item.name}"
            parts.append(said)
        text = str(pick(rnd, OPENERS)) + parts[0]
        for i, part in enumerate(parts[1:], 2):
            sep = pick(rnd, SEPARATORS)
            if sep == "，还有" and i != len(parts):
                sep = "，"
            text += f"{sep}{part}"
        if text in seen or not bank.can_say(text):
            continue
        parsed = lang.parse(text)
        want = sorted((c.sku for c in chosen))
        if parsed.intent != "order" or sorted(i.sku for i in parsed.items) != want:
            continue
        seen.add(text)
        lines.append((tone_pinyin(text), text))
    for said, text in lines:
        print(f"{said}\t{text}")


if __name__ == "__main__":
    main()
