"""Build voice/data/cmn-tan: human Mandarin word recordings for test calls.

The recordings are Yue Tan's HSK word list from the Shtooka project, as published in the
public repository hugolpz/audio-cmn (`64k/hsk/cmn-<word>.mp3`, CC BY-SA). Each word the test
corpora and the demo catalogue need is cut to its voiced part (sox `silence`, 20 ms kept each
side) and stored as a phone line carries it: 8 kHz mu-law, 300-3400 Hz. Run once, by hand:

    python scripts/cmn_tan_bank.py /path/to/audio-cmn-checkout-or-bare-repo WORD...

A bare repository (a mirror with no work tree) is read with `git show HEAD:<path>`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "voice" / "data" / "cmn-tan"


def mp3(repo: Path, word: str) -> bytes:
    path = f"64k/hsk/cmn-{word}.mp3"
    if (repo / path).is_file():
        return (repo / path).read_bytes()
    return subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], check=True,
                          capture_output=True).stdout


def main(repo: Path, words: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for word in words:
            src = Path(tmp) / "in.mp3"
            src.write_bytes(mp3(repo, word))
            subprocess.run(
                ["sox", "-R", str(src), "-r", "8000", "-c", "1", "-e", "mu-law",
                 str(OUT / f"cmn-{word}.wav"), "silence", "1", "0.01", "0.5%", "reverse",
                 "silence", "1", "0.01", "0.5%", "reverse", "pad", "0.02", "0.02",
                 "sinc", "300-3400"], check=True, capture_output=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
