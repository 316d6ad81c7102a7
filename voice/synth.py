"""Caller speech for tests, benchmarks and `doorstep simulate call --say`: espeak-ng, then sox
to the telephone band, or a person's recorded Mandarin words (`WordBank`).

Chinese is spoken from tone-numbered pinyin with the `cmn-latn-pinyin` voice (the `cmn` voice
misreads Hanzi). sox runs with -R (repeatable dither), so the same text and speed always give
the same audio; `band=True` limits it to 300-3400 Hz as a phone line does. Needs the Debian
packages espeak-ng and sox; the running gateway never uses it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from voice.audio import read_wav
from voice.transcripts import PUNCT


def available() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def synth_wav(text: str, out_dir: Path, *, voice: str = "cmn-latn-pinyin", speed: int = 150,
              band: bool = True) -> Path:
    """An 8 kHz mu-law WAV of `text` (cached in `out_dir` by its inputs)."""
    key = hashlib.sha1(f"{voice}|{speed}|{band}|{text}".encode()).hexdigest()[:16]
    out = out_dir / f"{voice}-{speed}-{key}.wav"
    if out.exists():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f".{key}.raw.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text],
                   check=True, capture_output=True)
    effects = ["sinc", "300-3400"] if band else []
    tmp = out_dir / f".{key}.wav"
    subprocess.run(["sox", "-R", str(raw), "-r", "8000", "-c", "1", "-e", "mu-law", str(tmp),
                    *effects], check=True, capture_output=True)
    raw.unlink(missing_ok=True)
    tmp.replace(out)
    return out


def synth_pcm(text: str, out_dir: Path, **kw: object) -> bytes:
    """PCM16 8 kHz of `text` (see synth_wav)."""
    return read_wav(synth_wav(text, out_dir, **kw))  # type: ignore[arg-type]


def read_corpus(path: Path) -> list[tuple[str, str]]:
    """(pinyin, expected order text) lines of a corpus file; # starts a comment."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            said, _, expected = line.partition("\t")
            out.append((said.strip(), expected.strip()))
    return out


class WordBank:
    """Human speech for test calls: recorded words (`cmn-<word>.wav`, 8 kHz, the phone band)
    said one after another. A text is cut into the fewest recorded words, preferring cuts at
    the boundaries of `keep` words (the order language's words: 两个体温计 is 两|个|体温|计, not
    两|个体|温|计); a comma is a pause. Unlike espeak-ng, these are a person's voice (see
    voice/data/cmn-tan/README.md), so a recogniser is measured on what it will meet."""

    def __init__(self, folder: Path, keep: Iterable[str] = ()) -> None:
        self.clips = {p.stem.removeprefix("cmn-"): p for p in sorted(folder.glob("cmn-*.wav"))}
        self.keep = sorted({w for w in keep if w}, key=len, reverse=True)
        self._pcm: dict[str, bytes] = {}

    def _bounds(self, text: str) -> set[int]:
        """Word boundaries of `text` by the keep words, longest first, left to right."""
        out, i = {0, len(text)}, 0
        while i < len(text):
            word = next((w for w in self.keep if text.startswith(w, i)), text[i])
            i += len(word)
            out.add(i)
        return out

    def pieces(self, text: str) -> list[str] | None:
        """The recorded words that say `text` (no punctuation), or None if some part has none."""
        bounds, n = self._bounds(text), len(text)
        best: list[tuple[float, list[str]] | None] = [None] * (n + 1)
        best[0] = (0.0, [])
        for j in range(1, n + 1):
            for i in range(j):
                prev, word = best[i], text[i:j]
                if prev is None or word not in self.clips:
                    continue
                crosses = any(i < b < j for b in bounds)
                cost = prev[0] + 1 + (10 if crosses else 0)
                if best[j] is None or cost < best[j][0]:  # type: ignore[index]
                    best[j] = (cost, prev[1] + [word])
        end = best[n]
        return end[1] if end else None

    def can_say(self, text: str) -> bool:
        return all(self.pieces(p) is not None for p in _pieces(text))

    def say(self, text: str, *, tempo: float = 1.0, gap: float = 0.06,
            pause: float = 0.3) -> bytes:
        """PCM16 8 kHz of `text`; ValueError if a word has no recording. `tempo` > 1 is faster
        (sox `tempo`, pitch kept; -R so the same inputs give the same audio)."""
        parts: list[bytes] = []
        for k, piece in enumerate(_pieces(text)):
            words = self.pieces(piece)
            if words is None:
                raise ValueError(f"no recording says {piece!r}")
            if k:
                parts.append(_silence(pause))
            for i, word in enumerate(words):
                if i:
                    parts.append(_silence(gap))
                if word not in self._pcm:
                    self._pcm[word] = read_wav(self.clips[word])
                parts.append(self._pcm[word])
        pcm = b"".join(parts)
        if tempo != 1.0:
            from voice.audio import wav_bytes

            out = subprocess.run(["sox", "-R", "-t", "wav", "-", "-t", "wav", "-", "tempo",
                                  str(tempo)], input=wav_bytes(pcm), check=True,
                                 capture_output=True).stdout
            pcm = read_wav(out)
        return pcm


def _pieces(text: str) -> list[str]:
    return [p for p in PUNCT.split(text) if p]


def _silence(seconds: float) -> bytes:
    return bytes(2 * int(8000 * seconds))


# A person's recorded Mandarin words (see data/cmn-tan/README.md): test calls and
# `doorstep simulate call --say`.
PERSON_BANK = Path(__file__).resolve().parent / "data" / "cmn-tan"
_HAN = re.compile(r"[\u3400-\u9fff]")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def order_words(phrases: Mapping[str, Sequence[str]]) -> list[str]:
    """The words of the order language's snapping phrases (`lang.snap_phrases()`): where a
    WordBank should cut a text."""
    return [w for cls, ws in phrases.items() if cls != "units_of" for w in ws]


def tone_pinyin(text: str) -> str:
    """Chinese text as tone-numbered pinyin for espeak-ng's `cmn-latn-pinyin` (commas kept)."""
    from pypinyin import Style, lazy_pinyin

    spaced = re.sub(r"[，,、；;。.！!？?]+", " , ", text)
    return " ".join(lazy_pinyin(spaced, style=Style.TONE3, neutral_tone_with_five=True,
                                errors=lambda x: [x.strip()] if x.strip() else []))


def speak(text: str, tmp: Path, *, tempo: float = 1.0,
          bank: WordBank | None = None) -> tuple[bytes, str]:
    """PCM16 8 kHz of `text` on a phone line, and the voice used: Chinese in a person's recorded
    words where they can say it, else espeak-ng (Chinese from tone pinyin, Korean, others as
    English). RuntimeError when espeak-ng or sox is needed and missing."""
    if _HAN.search(text):
        bank = bank or WordBank(PERSON_BANK)
        if bank.clips and bank.can_say(text):
            return bank.say(text, tempo=tempo), "person"
    if not available():
        raise RuntimeError("espeak-ng and sox are needed to say this (Debian packages "
                           "espeak-ng sox)")
    if _HAN.search(text):
        return synth_pcm(tone_pinyin(text), tmp, speed=int(150 * tempo)), "espeak-ng cmn"
    voice = "ko" if _HANGUL.search(text) else "en"
    return synth_pcm(text, tmp, voice=voice, speed=int(150 * tempo)), f"espeak-ng {voice}"
