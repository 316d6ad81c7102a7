"""mu-law tables, WAV reading at any rate and encoding, resampling."""

from __future__ import annotations

import io
import math
import struct
import wave
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voice.audio import (
    ULAW_TABLE, WavError, pcm_rms, read_wav, resample, ulaw_decode, ulaw_encode, ulaw_rms,
    wav_bytes,
)


def test_ulaw_table_known_values() -> None:
    assert ULAW_TABLE[0xFF] == 0 and ULAW_TABLE[0x7F] == 0
    assert ULAW_TABLE[0x00] == -32124 and ULAW_TABLE[0x80] == 32124
    assert len(set(ULAW_TABLE)) == 255  # +0 and -0 coincide


def test_decode_is_pcm16_little_endian() -> None:
    assert ulaw_decode(bytes([0x80, 0xFF])) == struct.pack("<hh", 32124, 0)


@given(st.lists(st.integers(-32768, 32767), max_size=200))
def test_encode_then_decode_stays_close(samples: list[int]) -> None:
    pcm = array("h", samples).tobytes()
    back = array("h")
    back.frombytes(ulaw_decode(ulaw_encode(pcm)))
    for a, b in zip(samples, back):
        assert abs(a - b) <= max(16, abs(a) // 14)


def test_every_code_survives_a_round_trip() -> None:
    codes = bytes(range(256))
    again = ulaw_encode(ulaw_decode(codes))
    assert [ULAW_TABLE[c] for c in again] == list(ULAW_TABLE)


def test_rms_without_decoding_matches() -> None:
    data = bytes(range(0, 256, 3))
    assert ulaw_rms(data) == pytest.approx(pcm_rms(ulaw_decode(data)), rel=1e-9)
    assert ulaw_rms(b"") == 0.0 and ulaw_rms(b"\xff" * 160) == 0.0


def _pcm_wav(samples: list[int], rate: int, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(array("h", samples).tobytes())
    return buf.getvalue()


def test_read_wav_resamples_and_downmixes() -> None:
    tone = [int(8000 * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(16000)]
    stereo = [s for s in tone for _ in range(2)]
    pcm = read_wav(_pcm_wav(stereo, 16000, channels=2))
    assert len(pcm) == 8000 * 2  # one second at 8 kHz
    assert pcm_rms(pcm) == pytest.approx(8000 / math.sqrt(2), rel=0.05)


def test_read_wav_mulaw_and_our_writer_agree() -> None:
    pcm = array("h", [0, 1000, -1000, 30000, -30000] * 100).tobytes()
    ul = ulaw_encode(pcm)
    assert read_wav(wav_bytes(ulaw=ul)) == ulaw_decode(ul)
    assert read_wav(wav_bytes(pcm)) == pcm


def test_read_wav_upsamples() -> None:
    assert len(read_wav(_pcm_wav([0] * 4000, 4000))) == 8000 * 2


@pytest.mark.parametrize("data", [b"", b"RIFF", b"RIFF\x00\x00\x00\x00WAVEjunk", b"\x00" * 64,
                                  b"RIFF\x10\x00\x00\x00WAVEfmt \x04\x00\x00\x00abcd"])
def test_bad_wav_is_refused(data: bytes) -> None:
    with pytest.raises(WavError):
        read_wav(data)


def test_resample_identity_and_empty() -> None:
    assert resample([1, 2, 3], 8000) == [1, 2, 3]
    assert resample([], 44100) == []
