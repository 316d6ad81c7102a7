"""`doorstep voice models list|fetch|verify` and `doorstep voice purge`, through click."""

from __future__ import annotations

import asyncio
import hashlib
import time
import json
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

import db.recordings
from db.models import utcnow
from db.session import Database
from gateway.cli import main
from tests.voice.test_models import fake_model_zip, server  # noqa: F401  (fixture)


@pytest.fixture
def env(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.chdir(tmp_path)
    yield {"DOORSTEP_DATA_DIR": str(tmp_path / "data"), "DOORSTEP_DATABASE_URL": db_url}


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_models_list_and_verify(env: dict[str, str], tmp_path: Path) -> None:
    r = run({**env, "DOORSTEP_VOICE_ENGINE_ZH_CN": "off"}, "voice", "models", "list")
    assert r.exit_code == 0
    assert "vosk-model-small-cn-0.22" in r.output and "zh-CN\toff (turned off" in r.output
    r = run(env, "voice", "models", "verify", str(tmp_path))
    assert r.exit_code == 1 and "am/final.mdl is missing" in r.output


def test_fetch_with_progress_then_found(env: dict[str, str], server: str,  # noqa: F811
                                        tmp_path: Path) -> None:
    reg = tmp_path / "registry.json"
    sha = hashlib.sha256(fake_model_zip()).hexdigest()
    reg.write_text(json.dumps([{"name": "vosk-model-test", "locale": "zh-CN",
                                "url": f"{server}/good.zip", "sha256": sha}]))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "vosk-model-test", "locale": "zh-CN",
                                "url": f"{server}/good.zip", "sha256": "1" * 64}]))
    r = run(env, "voice", "models", "fetch", "vosk-model-test", "--registry", str(bad))
    assert r.exit_code == 1 and "checksum mismatch" in r.output
    r = run(env, "voice", "models", "fetch", "vosk-model-test", "--registry", str(reg))
    assert r.exit_code == 0, r.output
    assert "installed vosk-model-test for zh-CN" in r.output
    r = run(env, "voice", "models", "list", "--registry", str(reg))
    assert "zh-CN\tvosk\t" + str(tmp_path / "data" / "models" / "vosk-model-test") + \
        f"\tsha256 {sha}\tok" in r.output
    assert run(env, "voice", "models", "verify").exit_code == 0


def test_purge_deletes_old_audio(env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    old, new = tmp_path / "old.wav", tmp_path / "new.wav"
    old.write_bytes(b"x" * 10)
    new.write_bytes(b"y" * 10)

    async def fill() -> None:
        database = Database(db_url)
        async with database.session() as s:
            r1 = await db.recordings.add(s, call_sid="CA1", kind="stream", path=str(old))
            r1.created_at = utcnow() - timedelta(days=31)
            await db.recordings.add(s, call_sid="CA2", kind="stream", path=str(new))
        await database.dispose()

    asyncio.run(fill())
    r = run(env, "voice", "purge")
    assert r.exit_code == 0 and "deleted the audio of 1 recordings" in r.output
    assert not old.exists() and new.exists()
    assert "of 0 recordings" in run(env, "voice", "purge").output
    time.sleep(1.0)
    assert "of 1 recordings" in run(env, "voice", "purge", "--days", "0.00001").output


def test_models_list_shows_engine_path_and_checksum(env: dict[str, str]) -> None:
    from voice import models as vm

    r = run({**env, "DOORSTEP_VOICE_ENGINE_KO_KR": "whisper"}, "voice", "models", "list")
    assert r.exit_code == 0
    lines = {line.split("\t")[0]: line for line in r.output.splitlines() if "\t" in line}
    if vm.whisper_available(Path(env["DOORSTEP_DATA_DIR"]) / "models"):
        assert lines["zh-CN"].startswith("zh-CN\twhisper\t")
        assert f"sha256 {vm.WHISPER_SHA256}" in lines["zh-CN"]
        assert str(Path(env["DOORSTEP_DATA_DIR"]) / "models" / "whisper-base") in lines["zh-CN"]
        assert lines["ko-KR"].startswith("ko-KR\twhisper\t")
    else:
        assert lines["zh-CN"].startswith("zh-CN\toff")
        assert "FAILED: whisper asked for" in lines["ko-KR"]
    r = run({**env, "DOORSTEP_VOICE_ENGINE_ZH_CN": "vosk"}, "voice", "models", "list")
    assert "zh-CN\tvosk\tFAILED: vosk asked for" in r.output
