"""Telephone audio: mu-law <-> PCM16 by table, energy, WAV files in and out, resampling to 8 kHz."""

from __future__ import annotations

import io
import math
import struct
from array import array
from pathlib import Path

RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law; twice that in PCM16


def _ulaw_to_linear(byte: int) -> int:
    u = ~byte & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if sign else magnitude


# G.711 mu-law: one decode table (the stdlib audioop is deprecated), its PCM16 bytes and energies.
ULAW_TABLE: tuple[int, ...] = tuple(_ulaw_to_linear(b) for b in range(256))
_ULAW_PCM: tuple[bytes, ...] = tuple(struct.pack("<h", v) for v in ULAW_TABLE)
_ULAW_SQUARE: tuple[int, ...] = tuple(v * v for v in ULAW_TABLE)
_ENCODE: bytes | None = None


def ulaw_decode(data: bytes) -> bytes:
    """mu-law bytes to little-endian PCM16."""
    return b"".join(map(_ULAW_PCM.__getitem__, data))


def _linear_to_ulaw(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), 32635) + 0x84
    exponent = max(0, (sample >> 7).bit_length() - 1)
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_encode(pcm: bytes) -> bytes:
    """Little-endian PCM16 to mu-law (a 64 KiB table built on first use)."""
    global _ENCODE
    if _ENCODE is None:
        _ENCODE = bytes(_linear_to_ulaw(s - 65536 if s >= 32768 else s) for s in range(65536))
    samples = array("H")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    return bytes(map(_ENCODE.__getitem__, samples))


def ulaw_rms(data: bytes) -> float:
    """RMS of a mu-law chunk without decoding it (16-bit scale)."""
    if not data:
        return 0.0
    return math.sqrt(sum(map(_ULAW_SQUARE.__getitem__, data)) / len(data))


def pcm_rms(pcm: bytes) -> float:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def resample(samples: list[int], rate: int, target: int = RATE) -> list[int]:
    """Linear interpolation; with an averaging pre-filter when shrinking, against aliasing."""
    if rate == target or not samples:
        return samples
    if rate > target:
        k = max(1, round(rate / target))
        if k > 1:
            acc = [0] * len(samples)
            run = 0
            for i, s in enumerate(samples):
                run += s
                if i >= k:
                    run -= samples[i - k]
                acc[i] = run // min(i + 1, k)
            samples = acc
    step = rate / target
    n = int(len(samples) / step)
    out = []
    last = len(samples) - 1
    for j in range(n):
        pos = j * step
        i = int(pos)
        frac = pos - i
        a = samples[i]
        b = samples[i + 1] if i < last else a
        out.append(int(a + (b - a) * frac))
    return out


class WavError(ValueError):
    """Not a WAV file we can read."""


def _decode_samples(fmt: int, width: int, raw: bytes) -> list[int]:
    if fmt == 7 and width == 1:
        return list(ULAW_TABLE[b] for b in raw)
    if fmt == 6 and width == 1:
        return [_alaw(b) for b in raw]
    if fmt == 3 and width == 4:
        floats = array("f")
        floats.frombytes(raw[: len(raw) // 4 * 4])
        return [max(-32768, min(32767, int(f * 32767))) for f in floats]
    if fmt == 1 and width == 1:
        return [(b - 128) << 8 for b in raw]
    if fmt == 1 and width == 2:
        a = array("h")
        a.frombytes(raw[: len(raw) // 2 * 2])
        return a.tolist()
    if fmt == 1 and width in (3, 4):
        return [int.from_bytes(raw[i:i + width], "little", signed=True) >> (8 * (width - 2))
                for i in range(0, len(raw) - width + 1, width)]
    raise WavError(f"unsupported WAV encoding (format {fmt}, {width * 8}-bit)")


def _alaw(byte: int) -> int:
    a = byte ^ 0x55
    seg = (a & 0x70) >> 4
    value = ((a & 0x0F) << 4) + 8
    if seg:
        value = (value + 0x100) << (seg - 1)
    return value if a & 0x80 else -value


def read_wav(source: bytes | str | Path, *, max_seconds: float | None = None) -> bytes:
    """Any PCM, float, mu-law or A-law WAV, mono or not, any rate -> PCM16 8 kHz mono."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    pos, fmt_chunk, raw = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt_chunk = body
        elif cid == b"data":
            raw = body
            break
        pos += 8 + size + (size & 1)
    if fmt_chunk is None or raw is None or len(fmt_chunk) < 16:
        raise WavError("WAV file without fmt or data chunk")
    fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt_chunk[:16])
    if fmt == 0xFFFE and len(fmt_chunk) >= 26:
        fmt = struct.unpack("<H", fmt_chunk[24:26])[0]
    if channels < 1 or rate < 1000 or bits % 8:
        raise WavError(f"unusable WAV header ({channels} channels, {rate} Hz, {bits} bits)")
    width = bits // 8
    if max_seconds is not None:
        raw = raw[: int(max_seconds * rate) * width * channels]
    samples = _decode_samples(fmt, width, raw)
    if channels > 1:
        samples = [sum(samples[i:i + channels]) // channels
                   for i in range(0, len(samples) - channels + 1, channels)]
    out = array("h", (max(-32768, min(32767, s)) for s in resample(samples, rate)))
    return out.tobytes()


def wav_bytes(pcm: bytes = b"", *, ulaw: bytes | None = None, rate: int = RATE) -> bytes:
    """A mono WAV file: PCM16 from `pcm`, or mu-law as is from `ulaw` (format 7)."""
    if ulaw is not None:
        body, fmt, width = ulaw, 7, 1
    else:
        body, fmt, width = pcm, 1, 2
    fmt_chunk = struct.pack("<HHIIHH", fmt, 1, rate, rate * width, width, width * 8)
    if fmt != 1:
        fmt_chunk += b"\x00\x00"  # cbSize for non-PCM formats
    out = io.BytesIO()
    out.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt_chunk) + 8 + len(body) + (len(body) & 1)))
    out.write(b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk)
    out.write(b"data" + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b""))
    return out.getvalue()


def silence_ulaw(seconds: float) -> bytes:
    return b"\xff" * int(seconds * RATE)


def duration(pcm: bytes, rate: int = RATE) -> float:
    return len(pcm) / 2 / rate


def wav_to_mp3(source: bytes | str | Path, *, kbps: int = 24) -> bytes:
    """A WAV recording as MP3 (8 kHz mono), the smallest format Telegram plays as a voice
    message; raises WavError for a file that is not a readable WAV, ImportError without lameenc."""
    import lameenc  # a wheel with LAME inside: no system codec needed

    pcm = read_wav(source)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    encoder.set_quality(5)
    return bytes(encoder.encode(pcm) + encoder.flush())
