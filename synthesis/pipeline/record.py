"""The store as a content-addressed record: what each version published, and checking it still holds.

Each version's ``manifest.json`` lists the SHA-256 of every file published
beside it (``files``) and of every input the run read (``inputs``: the
review's settings, its data files, the notebook), and ends with
``record_sha256``, the SHA-256 of the manifest's own canonical JSON without
that field. :func:`verify_version` recomputes them all, so a hand-edited
``report.html`` or manifest is noticed by ``synthesis verify``, ``list`` and
the index page. Manifests are strict JSON: ``NaN`` and ``Infinity`` are refused.

Only the standard library is imported here.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "report.html").write_text("<p>probably improves</p>")
>>> manifest = seal(folder, {"answer": "probably improves"})
>>> sorted(manifest["files"]), check_folder(folder, manifest)
(['report.html'], [])
>>> _ = (folder / "report.html").write_text("<p>does NOT improve</p>")
>>> check_folder(folder, manifest)
['report.html does not match its recorded SHA-256 (changed after publishing)']
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from synthesis.errors import PipelineError

__all__ = ["RECORD_KEY", "manifest_text", "record_hash", "seal", "is_recorded", "check_folder",
           "read_folder_manifest"]

#: the manifest's own hash, over its canonical JSON without this key
RECORD_KEY = "record_sha256"
MANIFEST_NAME = "manifest.json"


def manifest_text(manifest: dict[str, Any]) -> str:
    """The manifest as written to disk: strict JSON (no ``NaN``/``Infinity``), sorted keys, indented.

    Raises
    ------
    PipelineError
        When a number is not finite.

    Examples
    --------
    >>> manifest_text({"b": 1, "a": [0.5]})
    '{\\n  "a": [\\n    0.5\\n  ],\\n  "b": 1\\n}\\n'
    >>> manifest_text({"mid": float("inf")})
    Traceback (most recent call last):
    ...
    synthesis.errors.PipelineError: the manifest holds a number that is not finite (NaN or infinity); strict JSON cannot record it
    """
    try:
        return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError:
        raise PipelineError("the manifest holds a number that is not finite (NaN or infinity); "
                            "strict JSON cannot record it") from None


def record_hash(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON, leaving out ``record_sha256`` itself.

    Examples
    --------
    >>> record_hash({"a": 1}) == record_hash({"a": 1, "record_sha256": "x"})
    True
    """
    body = {k: v for k, v in manifest.items() if k != RECORD_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _published_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST_NAME)


def seal(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Record the SHA-256 of every file in ``folder`` and the manifest's own hash.

    Parameters
    ----------
    folder : Path
        The staged version folder (every file but ``manifest.json`` is recorded).
    manifest : dict
        Updated in place with ``files`` and ``record_sha256``; it is first
        passed through strict JSON, so it is hashed exactly as it will be read.

    Returns
    -------
    dict
        The sealed manifest (what will be written).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> sealed = seal(pathlib.Path(tempfile.mkdtemp()), {"a": 1})
    >>> sealed["files"], sealed["record_sha256"] == record_hash(sealed)
    ({}, True)
    """
    manifest["files"] = {p.name: _sha256(p) for p in _published_files(folder)}
    manifest.pop(RECORD_KEY, None)
    sealed = json.loads(manifest_text(manifest))
    sealed[RECORD_KEY] = record_hash(sealed)
    manifest.clear()
    manifest.update(sealed)
    return manifest


def is_recorded(manifest: dict[str, Any]) -> bool:
    """Whether a manifest was sealed (published with file hashes), i.e. can be verified.

    Examples
    --------
    >>> is_recorded({"answer": "x"}), is_recorded({"files": {}, "record_sha256": "0"})
    (False, True)
    """
    return RECORD_KEY in manifest or "files" in manifest


def check_folder(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """What no longer matches the record in a version folder (empty when it all matches).

    A manifest from before records were kept (no ``record_sha256`` and no
    ``files``) has nothing to check against: it is not reported here
    (``synthesis verify`` names it as unrecorded).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> check_folder(pathlib.Path(tempfile.mkdtemp()), {"a": 1})
    []
    >>> check_folder(pathlib.Path(tempfile.mkdtemp()), {"files": {}})
    ['the manifest has no record_sha256 (edited after publishing)']
    """
    if not is_recorded(manifest):
        return []
    if RECORD_KEY not in manifest:
        return [f"the manifest has no {RECORD_KEY} (edited after publishing)"]
    problems = []
    try:
        if manifest[RECORD_KEY] != record_hash(manifest):
            problems.append("manifest.json does not match its recorded SHA-256 (edited after publishing)")
    except ValueError:
        problems.append("manifest.json holds a number that is not finite (edited after publishing)")
    files = manifest.get("files")
    if not isinstance(files, dict):
        return problems + ["the manifest lists no published files"]
    present = {p.name for p in _published_files(folder)}
    for name in sorted(files):
        path = folder / name
        if name not in present:
            problems.append(f"{name} is missing")
        elif _sha256(path) != files[name]:
            problems.append(f"{name} does not match its recorded SHA-256 (changed after publishing)")
    problems.extend(f"{name} was added after publishing" for name in sorted(present - set(files)))
    return problems


def read_folder_manifest(folder: Path) -> tuple[dict[str, Any] | None, str]:
    """``folder/manifest.json`` as a dict, or ``None`` and the one-line reason it cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> read_folder_manifest(pathlib.Path(tempfile.mkdtemp()))
    (None, 'manifest.json is missing (a partial or stray folder)')
    """
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None, f"{MANIFEST_NAME} is missing (a partial or stray folder)"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{MANIFEST_NAME} is not valid JSON ({str(exc)[:80]})"
    if not isinstance(manifest, dict):
        return None, f"{MANIFEST_NAME} is not a JSON object"
    return manifest, ""
