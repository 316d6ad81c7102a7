"""Synthetic caller speech for tests and benchmarks: espeak-ng, then sox to the telephone band.

Chinese is spoken from tone-numbered pinyin with the `cmn-latn-pinyin` voice (the `cmn` voice
misreads Hanzi). sox runs with -R (repeatable dither), so the same text and speed always give
the same audio; `band=True` limits it to 300-3400 Hz as a phone line does. Needs the Debian
packages espeak-ng and sox; nothing here is used by the gateway.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from voice.audio import read_wav


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
