"""The Whisper engine (faster-whisper / CTranslate2), for locales without a Vosk model.

Whisper has no runtime grammar: it dictates. On short 8 kHz orders free dictation is useless
(Traditional characters, made-up words, loops), so each stream gets two hints from the order
language: an initial prompt of example orders from the catalogue, and the phrases its
transcripts are snapped to (voice.snap, toneless-pinyin edit distance).

The whole utterance is decoded at `finish` (Whisper is not streaming): the encoder runs over
the utterance rounded up to whole seconds rather than Whisper's fixed 30 s window (CTranslate2
accepts a shorter input; 6 s costs ~0.2 s of CPU where 30 s costs ~1.6 s), then a beam search
returns up to `alternatives` hypotheses; for an order (not a yes or no) a second, greedy decode
of the same encoding without the prompt adds its own. Each is snapped to the order grammar
several ways, and the distinct readings are ranked by the model itself (`Heard.score`: how
likely each reading's words, as said with their fillers, are given the same audio); the
readings one confusable count or unit away from the best two are scored as well. The N-best
list given back is: the readings, best first, then the raw transcripts (Simplified), so the
order language can still parse what snapping refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

from voice.audio import RATE
from voice.recognizer import PREROLL_S, Alternative, EngineUnavailable, Hints
from voice.snap import VARIANTS, Snapped, Snapper, simplified
from voice.transcripts import PUNCT, copies_prompt, cut_loop, drop_prompt_echo

log = logging.getLogger(__name__)

LANGUAGES = {"zh-CN": "zh", "ko-KR": "ko"}
SAMPLE_RATE = 16000
MAX_FRAMES = 3000  # Whisper's 30 s window, in 10 ms mel frames
PAD_S = 0.5  # silence after the utterance before the window is cut
MAX_PROMPT_TOKENS = 200
MAX_SCORED_TOKENS = 60
CHUNK = 1 << 20
MAX_CANDIDATES = 8  # snapped readings scored per utterance
MAX_OTHERS = 6  # and readings one confusable word away from the best two (Snapped.others)
BARE = 0.1  # a reading's score less this per item said without a count (肥皂十块，蒜，油)
ODD = 0.2  # and per item in a unit other than the product's usual one (a quarter of items are)


class ChecksumError(Exception):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def upsample(pcm: bytes) -> Any:
    """PCM16 8 kHz -> float32 16 kHz in [-1, 1] (linear interpolation)."""
    import numpy as np

    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    if len(x) == 0:
        return x
    t = np.arange(0, len(x), RATE / SAMPLE_RATE, dtype=np.float32)
    return np.interp(t, np.arange(len(x), dtype=np.float32), x).astype(np.float32)


class _Model:
    """One loaded model directory (shared by every locale that uses it)."""

    def __init__(self, path: Path, threads: int) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                  cpu_threads=threads, num_workers=1)
        self._tokenizers: dict[str, Any] = {}
        self._suppress: list[int] | None = None

    def tokenizer(self, language: str) -> Any:
        tok = self._tokenizers.get(language)
        if tok is None:
            from faster_whisper.tokenizer import Tokenizer

            tok = Tokenizer(self.model.hf_tokenizer, True, task="transcribe", language=language)
            self._tokenizers[language] = tok
        return tok

    def suppress(self, tok: Any) -> list[int]:
        if self._suppress is None:
            from faster_whisper.transcribe import get_suppressed_tokens

            self._suppress = list(get_suppressed_tokens(tok, [-1]))
        return self._suppress


class WhisperEngine:
    """`models` maps a locale to a faster-whisper model directory; `sha256` pins model.bin
    per locale (checked at load; a mismatch refuses the model). Every model loads at
    construction."""

    def __init__(self, models: Mapping[str, str | Path], sha256: Mapping[str, str] | None = None,
                 *, threads: int = 1, beam: int = 4, alternatives: int = 4,
                 unprompted: bool = True, second_beam: int = 1) -> None:
        self.beam, self.alternatives, self.unprompted = beam, alternatives, unprompted
        # the pass without the prompt: beam and N-best. Greedy is as good as a beam of 4 there
        # (dev, 303 orders: 253 vs 251 of 303; beam 2: 254) and costs least (+25 % a call)
        self.second_beam = second_beam
        self.paths: dict[str, Path] = {}
        self.models: dict[str, _Model] = {}
        loaded: dict[Path, _Model] = {}
        for locale, raw in models.items():
            path = Path(raw)
            expected = (sha256 or {}).get(locale)
            if path not in loaded:
                if expected:
                    actual = sha256_file(path / "model.bin")
                    if actual != expected:
                        raise ChecksumError(f"{path}/model.bin: SHA-256 {actual}, expected "
                                            f"{expected}; the model is not loaded")
                loaded[path] = _Model(path, threads)
                log.info("loaded Whisper model for %s from %s", locale, path)
            self.models[locale], self.paths[locale] = loaded[path], path
        self._snappers: OrderedDict[str, Snapper] = OrderedDict()
        self.warm_up()

    def warm_up(self) -> None:
        """The first decode, the pinyin dictionaries and OpenCC cost ~1 s once per process:
        paid at load (before the worker says it is ready), not by the first caller."""
        import numpy as np

        noise = (np.random.default_rng(0).normal(0, 300, RATE).astype(np.int16)).tobytes()
        for locale in self.models:
            self.transcribe(locale, noise, "是。")
        Snapper({"product": ["大米"], "intent": ["是"]}).snap("對")

    def locales(self) -> list[str]:
        return list(self.models)

    def known(self, locale: str, words: Sequence[str]) -> list[str]:
        """Dictation writes any word: all of them."""
        self._model(locale)
        return [w for w in words if w]

    def _model(self, locale: str) -> _Model:
        m = self.models.get(locale)
        if m is None:
            raise EngineUnavailable(f"no Whisper model for {locale}")
        return m

    def snapper(self, phrases: Mapping[str, Sequence[str]]) -> Snapper | None:
        if not phrases:
            return None
        key = hashlib.sha1(json.dumps({k: list(v) for k, v in phrases.items()}, sort_keys=True,
                                      ensure_ascii=False).encode()).hexdigest()
        hit = self._snappers.get(key)
        if hit is None:
            hit = self._snappers[key] = Snapper(phrases)
            if len(self._snappers) > 8:
                self._snappers.popitem(last=False)
        else:
            self._snappers.move_to_end(key)
        return hit

    def stream(self, locale: str, words: Sequence[str] | None,
               hints: Hints | None = None) -> WhisperStream:
        return WhisperStream(self, locale, self._model(locale), hints)

    def transcribe(self, locale: str, pcm: bytes, prompt: str = "") -> list[tuple[str, float]]:
        """Up to `alternatives` (text, score) hypotheses for PCM16 8 kHz, best first."""
        return self.decode(locale, pcm, prompt)[0]

    def decode(self, locale: str, pcm: bytes,
               prompt: str = "") -> tuple[list[tuple[str, float]], Heard | None]:
        """The hypotheses of `transcribe`, and a `Heard` that can score other texts against
        the same audio (None when the audio is too short)."""
        import numpy as np

        m = self._model(locale)
        audio = upsample(pcm)
        if len(audio) < SAMPLE_RATE // 10:
            return [], None
        seconds = len(audio) / SAMPLE_RATE + PAD_S
        frames = min(MAX_FRAMES, int(math.ceil(seconds)) * 100)
        padded = np.zeros(frames * 160, dtype=np.float32)
        n = min(len(audio), len(padded))
        padded[:n] = audio[:n]
        feats = m.model.feature_extractor(padded)[:, :frames]
        encoded = m.model.encode(np.ascontiguousarray(feats, dtype=np.float32))
        tok = m.tokenizer(LANGUAGES.get(locale, locale.split("-")[0]))
        prompt_ids: list[int] = []
        if prompt:
            prompt_ids = [tok.sot_prev] + tok.encode(" " + prompt.strip())[-MAX_PROMPT_TOKENS:]
        heard = Heard(m, tok, encoded, seconds, self.beam, self.alternatives)
        return heard.hypotheses(prompt_ids), heard


class Heard:
    """One encoded utterance: decoded (`hypotheses`, with a prompt or without), and kept to
    score candidate texts against it (`score`): the mean log-probability of a text's tokens
    (and the end of text) given the audio, in one batched, teacher-forced pass of the decoder.
    This is how the grammar's snapped readings are ranked: Whisper base writes 向由五平 and
    means 酱油五瓶, which it scores far above 油五瓶."""

    def __init__(self, model: _Model, tok: Any, encoded: Any, seconds: float = 0.0,
                 beam: int = 4, alternatives: int = 4) -> None:
        self.model, self.tok, self.encoded = model, tok, encoded
        self.seconds, self.beam, self.alternatives = seconds, beam, alternatives
        # the decoder's start (language, task, no timestamps): the same for decoding and scoring
        self.start = list(tok.sot_sequence) + [tok.no_timestamps]

    def hypotheses(self, prompt_ids: Sequence[int] = (),
                   beam: int | None = None) -> list[tuple[str, float]]:
        """Up to `alternatives` (or `beam`) (text, score) transcripts by beam search after
        `prompt_ids` (none: the audio alone), on the encoding already made."""
        tok = self.tok
        ids = list(prompt_ids) + self.start
        max_new = min(120, 8 + int(6 * self.seconds))  # ~4 characters a second are said
        result = self.model.model.model.generate(
            self.encoded, [ids], beam_size=beam or self.beam,
            num_hypotheses=beam or self.alternatives,
            return_scores=True, max_length=len(ids) + max_new, suppress_blank=True,
            suppress_tokens=self.model.suppress(tok))[0]
        out: list[tuple[str, float]] = []
        for seq, score in zip(result.sequences_ids, result.scores):
            text = tok.decode([t for t in seq if t < tok.eot]).strip()
            if text:
                out.append((text, float(score)))
        return out

    def score(self, texts: Sequence[str]) -> list[float]:
        import ctranslate2
        import numpy as np

        if not texts:
            return []
        # Whisper rarely writes a full-width comma between spoken items: scored with it, every
        # reading of two items or more lost to a shorter one (大米三袋 over 大米三袋，鸡蛋两板)
        seqs = [list(self.tok.encode(PUNCT.sub("", t)))[:MAX_SCORED_TOKENS] or [self.tok.eot]
                for t in texts]
        feats = np.asarray(self.encoded)
        batch = ctranslate2.StorageView.from_array(
            np.ascontiguousarray(np.repeat(feats, len(seqs), axis=0)))
        # without the prompt: 2.5 times faster, as good (40 vs 41 of 56 on the human corpus)
        results = self.model.model.model.align(batch, self.start, seqs, int(feats.shape[1]) * 2)
        return [float(np.mean(np.log(np.maximum(np.asarray(r.text_token_probs), 1e-9))))
                for r in results]


class WhisperStream:
    preroll_s = PREROLL_S["whisper"]

    def __init__(self, engine: WhisperEngine, locale: str, model: _Model,
                 hints: Hints | None) -> None:
        self.engine, self.locale, self.hints = engine, locale, hints
        self.buf = bytearray()

    def accept(self, pcm: bytes) -> None:
        self.buf += pcm

    def finish(self) -> list[Alternative]:
        hints = self.hints
        hyps, heard = self.engine.decode(self.locale, bytes(self.buf),
                                         hints.prompt if hints else "")
        self.buf.clear()
        raw: dict[str, float] = {}
        self._collect(hyps, raw)
        out: list[Alternative] = []
        snapper = self.engine.snapper(hints.phrases) if hints else None
        if snapper is not None:
            snapped = snapper.snap_all(list(raw), VARIANTS)[:MAX_CANDIDATES]
            if self.engine.unprompted and heard is not None and hints and hints.prompt \
                    and not (snapped and snapped[0].intent):
                # An order (not a yes or no): the audio decoded once more without the prompt,
                # on the same encoding, and both passes' transcripts snapped. The prompt pulls
                # transcripts toward its examples; without it, other mishearings come up, and
                # the right reading is more often among the candidates the model ranks.
                self._collect(heard.hypotheses(beam=self.engine.second_beam), raw)
                snapped = snapper.snap_all(list(raw), VARIANTS)[:MAX_CANDIDATES]
            # The grammar's readings of an order are ranked by the model (see Heard). Yes and
            # no are not: 不对 said slowly was written 对对对 too, and the model preferred the
            # loop; the snapper's nearest word decides, and whether the utterance is an answer
            # or an order at all (its best reading first, as before the model ranked).
            orders = [c for c in snapped if not c.intent]
            ranked = self._rank(heard, orders)
            answers = [(c, 0.0) for c in snapped if c.intent]
            for c, lp in (answers + ranked if snapped and snapped[0].intent
                          else ranked + answers):
                out.append(Alternative(c.text, round(math.exp(lp), 3) if lp else
                                       round(max(0.0, 1 - c.per_syllable), 3)))
        seen = {a.text for a in out}
        out.extend(Alternative(t, round(c, 3)) for t, c in raw.items() if t not in seen)
        return out

    def _collect(self, hyps: list[tuple[str, float]], raw: dict[str, float]) -> None:
        """Transcripts into `raw` (text -> likelihood), Simplified, loops cut, prompt copies
        dropped; the first pass's score stays where both passes wrote the same text."""
        hints = self.hints
        for text, score in hyps:
            s = simplified(text)
            if hints and copies_prompt(s, hints.prompt):
                continue
            # an example of the prompt after what was heard is usually an echo, but may have
            # been said (大米两袋，鸡蛋两板): both readings go on, the model's score decides
            said = [s] if not hints else \
                list(dict.fromkeys(cut_loop(t) for t in (drop_prompt_echo(s, hints.prompt), s)))
            for t in said:
                raw.setdefault(t, math.exp(max(-20.0, score)))

    @staticmethod
    def _rank(heard: Heard | None, orders: list[Snapped]) -> list[tuple[Snapped, float]]:
        """The order readings, most likely first: by the model's score of each as said (its
        fillers too: an opener left out of what is scored is explained by a product instead,
        盐，青菜九把 over 要青菜九把), less BARE per item without a count and ODD per item in an
        unusual unit; then the readings one confusable word away from the best two
        (`Snapped.others`) are scored as well (a second batch: they depend on the first)."""
        if heard is None or not orders or (len(orders) == 1 and not orders[0].others):
            return [(c, 0.0) for c in orders]

        def key(cs: tuple[Snapped, float]) -> tuple[float, int]:
            return (-(cs[1] - BARE * cs[0].bare - ODD * cs[0].odd), cs[0].text.count("，"))

        ranked = sorted(zip(orders, heard.score([c.spoken for c in orders])), key=key)
        seen = {c.text for c in orders}
        extra = [Snapped(t, c.cost, c.per_syllable, said=said, bare=c.bare, odd=odd)
                 for c, _s in ranked[:2] for t, said, odd in c.others]
        extra = [c for c in extra if not (c.text in seen or seen.add(c.text))][:MAX_OTHERS]
        if extra:
            ranked = sorted(ranked + list(zip(extra, heard.score([c.spoken for c in extra]))),
                            key=key)
        return ranked
