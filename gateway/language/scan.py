"""Text to tokens: normalisation, then a longest-match scan over the compiled lexicon."""

from __future__ import annotations

import re
from decimal import Decimal

from .lexicon import NUM, PARTICLE, PRODUCT, SEP, UNIT, UNKNOWN, Entry, Lexicon
from .numbers import read_han_numeral

DIGITS_RE = re.compile(r"\d+(?:\.\d+)?")
# Digits joined by dashes (4-201, 8-1-602, 3-1-1201): a building, entrance and room, never a count.
ADDRESS_RE = re.compile(r"\d+(?:[-#]\d+)+")
# Strong separators; "、" and "/" also join a list of goods.
SEP_CHARS = frozenset(",，、;；。.!！?？\n\r\t:：/|~～()（）[]【】\"'“”‘’")
LIST_CHARS = frozenset("、/+")
TIMES = frozenset("x×*")
HAN_SPACE_RE = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
SPACE_RE = re.compile(r"\s+")
# Compiled once, not per text; a point between digits (2.5리터) is a decimal point.
SPACED_SPLIT_RE = re.compile(r"([,，、;；。!！?？\n:：/|~()（）]|(?<!\d)\.|\.(?!\d))")


class Tok:
    """A scanned token: kind, surface text, value (skus, unit, Decimal, intent). Never changed
    once built: the scanners share one token per lexicon word between texts."""

    __slots__ = ("kind", "list_sep", "text", "value", "weak")

    def __init__(self, kind: int, text: str, value: object = None, weak: bool = False,
                 list_sep: bool = False) -> None:
        self.kind = kind
        self.text = text
        self.value = value
        self.weak = weak
        self.list_sep = list_sep

    def __repr__(self) -> str:  # for test failures and debugging
        return f"Tok({self.kind}, {self.text!r}, {self.value!r})"


def _tok(entry: Entry, text: str) -> Tok:
    return Tok(entry.kind, text, entry.value, entry.weak, entry.list_sep)


# Tokens are never changed after the scan, so every separator and every lexicon word has one
# token built at compile time: a scan allocates only numbers and unknown words.
SEP_TOKS = {c: Tok(SEP, c, list_sep=c in LIST_CHARS) for c in SEP_CHARS}


class HanScanner:
    """Scans unspaced text (zh-CN): longest lexicon word first, then numbers, else unknown."""

    def __init__(self, lex: Lexicon) -> None:
        self.lex = lex
        numbers = lex.data.section("numbers")
        self.digits = {lex.normalize(k): int(v) for k, v in numbers.get("digits", {}).items()}
        self.mults = {lex.normalize(k): int(v) for k, v in numbers.get("multipliers", {}).items()}
        self.numeral_chars = frozenset(self.digits) | frozenset(self.mults)
        self.lengths = lex.lengths
        # The token of each word's first meaning; digits are read as numbers.
        self.toks = {w: _tok(es[0], w) for w, es in lex.entries.items() if not w.isdigit()}
        self.unit_chars = frozenset(w for w, t in self.toks.items()
                                    if len(w) == 1 and t.kind == UNIT)
        # A numeral run ending in one of these, with no counter after it, ends in that unit:
        # 三两 = 3 两 (a 50 g weight), while 三两个 stays "two or three".
        self.trailing = {c: Tok(UNIT, c, c) for c in (
            lex.normalize(str(u)) for u in lex.data.section("units").get("trailing", []))
            if len(c) == 1 and c in self.numeral_chars}
        self.ascii_tail = frozenset(w for w in self.toks if w[-1].isascii() and w[-1].isalnum())
        # A numeral said alone (两, 十) is most counts: its token is built once too.
        self.single_nums: dict[str, Tok] = {}
        for c in self.numeral_chars:
            value = read_han_numeral(c, self.digits, self.mults)
            if value is not None:
                self.single_nums[c] = Tok(NUM, c, Decimal(value))

    def _word_at(self, text: str, j: int) -> bool:
        """A word of two characters or more starts at j: 千克 ends the numeral run 五千克."""
        toks = self.toks
        for size in self.lengths.get(text[j], ()):
            if size > 1 and text[j:j + size] in toks:
                return True
        return False

    def scan(self, text: str) -> list[Tok]:
        lengths, toks = self.lengths, self.toks
        numeral_chars, unit_chars = self.numeral_chars, self.unit_chars
        ascii_tail = self.ascii_tail
        trailing_chars = self.trailing
        dashed = "-" in text or "#" in text  # digits joined by dashes (an address) possible
        out: list[Tok] = []
        append = out.append
        n = len(text)
        i = 0
        unk = -1  # start of the pending unknown span
        while i < n:
            c = text[i]
            tok = None  # the longest lexicon word at i
            for size in lengths.get(c, ()):
                w = c if size == 1 else text[i:i + size]
                tok = toks.get(w)
                if tok is not None:
                    end = i + size
                    if end < n and w in ascii_tail \
                            and text[end].isascii() and text[end].isalnum():
                        tok = None
                        continue  # ASCII words match whole: "no" is not in "nothing"
                    break
            if tok is not None and c not in numeral_chars:
                if unk >= 0:
                    append(Tok(UNKNOWN, text[unk:i]))
                    unk = -1
                append(tok)
                i += len(tok.text)
                continue
            run = 0
            if (c in TIMES or c == "+") and i + 1 < n and "0" <= text[i + 1] <= "9" \
                    and tok is None:
                m = DIGITS_RE.match(text, i + 1)
                if m:  # "大米x2", "鸡蛋×3", a chain's "豆腐+1": a count (the text keeps the sign)
                    if unk >= 0:
                        append(Tok(UNKNOWN, text[unk:i]))
                        unk = -1
                    append(Tok(NUM, c + m.group(), Decimal(m.group())))
                    i = m.end()
                    continue
            if c in trailing_chars and tok is None and unk < 0 and out and out[-1].kind == NUM \
                    and not (i + 1 < n and (text[i + 1] in unit_chars
                                            or self._word_at(text, i + 1))):
                append(self.trailing[c])  # 猪肉3两
                i += 1
                continue
            if dashed and "0" <= c <= "9" and (m := ADDRESS_RE.match(text, i)) is not None:
                if unk >= 0:
                    append(Tok(UNKNOWN, text[unk:i]))
                    unk = -1
                i = m.end()  # 4-201: an address, dropped
                continue
            if "0" <= c <= "9":
                m = DIGITS_RE.match(text, i)
                run = m.end() - i if m else 0
            elif c in numeral_chars:
                j = i + 1
                while j < n and text[j] in numeral_chars and not self._word_at(text, j) \
                        and text[j] not in unit_chars:
                    j += 1  # 二两: with a catalogue that sells by 两, it is the unit
                run = j - i
                if unk >= 0 and run > 1 and c in self.digits and text[i + 1] in self.digits:
                    run = 1  # 啤九一箱: "九" may belong to the unknown word before it
            if tok is not None and len(tok.text) >= run and not (
                    len(tok.text) == 1 and c in numeral_chars
                    and not (out and out[-1].kind == NUM and unk < 0
                             and out[-1].text[0] not in TIMES
                             and not (i + 1 < n and text[i + 1] in unit_chars))):
                if unk >= 0:
                    append(Tok(UNKNOWN, text[unk:i]))
                    unk = -1
                append(tok)
                i += len(tok.text)
                continue
            trailing = None
            if run > 1 and c not in "0123456789" and text[i + run - 1] in self.trailing \
                    and text[i + run - 2] in numeral_chars and not (
                        i + run < n and (text[i + run] in unit_chars
                                         or self._word_at(text, i + run))):
                trailing = self.trailing[text[i + run - 1]]
                run -= 1  # 猪肉三两, 一斤二两: the last 两 is the unit
            if run:
                raw = text[i:i + run]
                num: int | Decimal | None
                single = self.single_nums.get(raw) if run == 1 else None
                if single is not None:
                    num = single.value  # type: ignore[assignment]
                elif "0" <= c <= "9":
                    num = Decimal(raw)
                else:
                    num = read_han_numeral(raw, self.digits, self.mults)
                if num is not None:
                    if unk >= 0:
                        append(Tok(UNKNOWN, text[unk:i]))
                        unk = -1
                    append(single or Tok(NUM, raw, Decimal(num)))
                    i += run
                    if trailing is not None:
                        append(trailing)
                        i += 1
                    continue
            if c in SEP_CHARS or c.isspace():
                if unk >= 0:
                    append(Tok(UNKNOWN, text[unk:i]))
                    unk = -1
                if c in SEP_CHARS:
                    append(SEP_TOKS[c])
                i += 1
                continue
            if c.isascii() and c.isalpha():
                if unk >= 0:
                    append(Tok(UNKNOWN, text[unk:i]))
                    unk = -1
                j = i + 1
                while j < n and text[j].isascii() and text[j].isalnum():
                    j += 1
                append(Tok(UNKNOWN, text[i:j]))
                i = j
                continue
            if c.isalpha():
                if unk < 0:
                    unk = i
            elif unk >= 0:  # a symbol or an emoji ends an unknown word
                append(Tok(UNKNOWN, text[unk:i]))
                unk = -1
            i += 1
        if unk >= 0:
            append(Tok(UNKNOWN, text[unk:]))
        return out


class SpacedScanner:
    """Scans spaced text (ko-KR): each word is a product, number, counter … plus glued particles."""

    def __init__(self, lex: Lexicon) -> None:
        self.lex = lex
        self.lengths = lex.lengths
        self.particles = tuple(sorted((w for w, es in lex.entries.items()
                                       if any(e.kind == PARTICLE for e in es)),
                                      key=len, reverse=True))
        # Built once: each word's meanings with their tokens, and the words that can be a unit
        # or a number, so a scan only probes dicts and allocates numbers and unknown words.
        self.meanings = {w: tuple((e, _tok(e, w)) for e in es) for w, es in lex.entries.items()}
        self.unit_words = frozenset(w for w, es in lex.entries.items()
                                    if any(e.kind == UNIT for e in es))
        self.num_words = frozenset(w for w, es in lex.entries.items()
                                   if any(e.kind == NUM for e in es))
        self.particle_toks = {p: next(t for e, t in self.meanings[p] if e.kind == PARTICLE)
                              for p in self.particles}
        # Particles by their last character, longest first as in `particles`: a word's end
        # is tried against the few that can match it.
        self.particles_by_last: dict[str, tuple[str, ...]] = {}
        for p in self.particles:
            self.particles_by_last[p[-1]] = (*self.particles_by_last.get(p[-1], ()), p)

    def _starts_with_unit(self, word: str, pos: int) -> bool:
        if pos >= len(word) or word[pos].isdigit():
            return False
        unit_words = self.unit_words
        left = len(word) - pos
        for size in self.lengths.get(word[pos], ()):
            if size <= left and word[pos:pos + size] in unit_words:
                return True
        return False

    def _starts_with_number(self, word: str) -> bool:
        """The next word is a number that needs this one: 열 두 개, 이 십 킬로."""
        if not word:
            return False
        num_words = self.num_words
        left = len(word)
        for size in self.lengths.get(word[0], ()):
            if size <= left and word[:size] in num_words:  # the longest number word at the start
                rest = word[size:]
                return self._starts_with_unit(rest, 0) if rest else True
        return False

    def _pick(self, word: str, j: int, next_word: str) -> Tok | None:
        """The token of the longest lexicon word at word[j] with a meaning allowed there."""
        meanings = self.meanings
        left = len(word) - j
        for size in self.lengths.get(word[j], ()):
            if size > left:
                continue
            found = meanings.get(word[j:j + size])
            if found is None:
                continue
            for e, tok in found:
                if e.kind == PARTICLE and j == 0:
                    continue
                if e.kind == NUM and e.weak:
                    end = j + size
                    if not (self._starts_with_unit(word, end)
                            or end == len(word) and (self._starts_with_unit(next_word, 0)
                                                     or self._starts_with_number(next_word))):
                        continue
                return tok
        return None

    def _word(self, word: str, next_word: str, out: list[Tok]) -> None:
        pieces: list[Tok] = []
        j = 0
        n = len(word)
        while j < n:
            c = word[j]
            if "0" <= c <= "9":
                m = DIGITS_RE.match(word, j)
                assert m is not None
                pieces.append(Tok(NUM, m.group(), Decimal(m.group())))
                j = m.end()
                continue
            tok = self._pick(word, j, next_word)
            if tok is None:
                break
            if tok.kind == PRODUCT and j > 0 and pieces and pieces[-1].kind not in (NUM, UNIT):
                break  # a product name glued after other words: read the word as unknown
            pieces.append(tok)
            j += len(tok.text)
        if j >= n:
            out.extend(pieces)
            return
        # Part of the word is unknown: the whole word is, less the particles glued to its end.
        if pieces and pieces[-1].kind == UNIT and all(p.kind in (NUM, UNIT) for p in pieces):
            out.extend(pieces)  # "2개짜리": keep the count, the rest is unknown
            word = word[j:]
        stem = word
        tail: list[Tok] = []
        stripped = True
        while stripped:
            stripped = False
            for p in self.particles_by_last.get(stem[-1], ()):
                if len(stem) > len(p) and stem.endswith(p):
                    tail.insert(0, self.particle_toks[p])
                    stem = stem[: -len(p)]
                    stripped = True
                    break
        out.append(Tok(UNKNOWN, stem))
        out.extend(tail)

    def scan(self, text: str) -> list[Tok]:
        out: list[Tok] = []
        words: list[str] = []
        for chunk in SPACED_SPLIT_RE.split(text):
            if not chunk:
                continue
            if chunk in SEP_CHARS or chunk in ".":
                words.append(chunk)
            else:
                words.extend(chunk.split())
        k = 0
        while k < len(words):
            word = words[k]
            if word in SEP_CHARS:
                out.append(SEP_TOKS[word])
                k += 1
                continue
            if word in self.lex.glue_prefixes and k + 1 < len(words):
                glued = self._glued_name(words, k)
                if glued:
                    w, used, rest = glued
                    out.append(self.meanings[w][0][1])
                    k += used
                    if rest:
                        self._word(rest, words[k] if k < len(words) else "", out)
                    continue
            self._word(word, words[k + 1] if k + 1 < len(words) else "", out)
            k += 1
        return out

    def _glued_name(self, words: list[str], k: int) -> tuple[str, int, str] | None:
        """A name written apart ("돼지 고기" for 돼지고기), and what follows it in the last word."""
        entries = self.lex.entries
        for used in (4, 3, 2):
            if k + used > len(words):
                continue
            head = "".join(words[k:k + used - 1])
            s = head + words[k + used - 1]
            for w in self.lex.words_at(s, 0):
                if len(w) > len(head) and " " not in w \
                        and any(e.kind == PRODUCT for e in entries[w]):
                    rest = s[len(w):]
                    if not rest or self._pick(rest, 0, "") is not None or rest[0].isdigit() \
                            or rest in self.particles:
                        return w, used, rest
        return None
