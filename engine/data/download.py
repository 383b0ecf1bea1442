"""Checksum-verified download and atomic extraction of public dataset archives.

The hash is required, not optional: a truncated download or a changed upstream file would otherwise
turn into silently different training data. Extraction goes to a temp dir that is renamed into place,
so an interrupted run leaves either nothing or a complete directory, and a marker file records which
archive (URL and sha256) a directory came from, so a second call can skip the download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile

from engine.data.errors import DataError

MARKER = ".download.json"


@dataclasses.dataclass(frozen=True)
class Archive:
    url: str
    sha256: str
    bytes: int


# sha256 and sizes of the GroupLens releases as pinned by tensorflow/datasets
# (tensorflow_datasets/url_checksums/movielens.txt) and matched by several independent projects.
GROUPLENS = {
    "ml-1m": Archive("https://files.grouplens.org/datasets/movielens/ml-1m.zip",
                     "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20", 5_917_549),
    "ml-100k": Archive("https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                       "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229", 4_924_029),
}


def _progress_bar(total: int | None, enabled: bool, label: str):
    try:
        from tqdm import tqdm
    except ImportError:  # progress is a nicety; never fail a download over it
        enabled = False
    if not enabled:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label)


def _fetch(url: str, directory: pathlib.Path, progress: bool) -> tuple[pathlib.Path, str]:
    """Stream url into a temp file in directory; return it and its sha256."""
    digest = hashlib.sha256()
    handle, name = tempfile.mkstemp(prefix=".download.", suffix=".part", dir=directory)
    path = pathlib.Path(name)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            length = response.headers.get("Content-Length")
            bar = _progress_bar(int(length) if length else None, progress, url.rsplit("/", 1)[-1])
            try:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
    except (urllib.error.URLError, OSError) as e:
        path.unlink(missing_ok=True)
        raise DataError(f"{url}: download failed ({getattr(e, 'reason', e)})") from e
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest()


def _recorded(dest: pathlib.Path) -> dict | None:
    try:
        return json.loads((dest / MARKER).read_text())
    except (OSError, ValueError):
        return None


def download_and_extract(url: str, dest_dir, sha256: str, *, progress: bool = True) -> pathlib.Path:
    """Download a zip, verify its sha256 and extract it to dest_dir; returns dest_dir.

    When the archive holds a single top-level folder (ml-1m.zip holds ml-1m/), that folder's contents
    become dest_dir, so download_and_extract(url, root / "ml-1m", ...) gives root/ml-1m/ratings.dat.
    """
    dest = pathlib.Path(dest_dir).expanduser()
    expected = sha256.strip().lower()
    if dest.exists():
        recorded = _recorded(dest)
        if recorded and recorded.get("sha256") == expected:
            return dest
        raise DataError(f"{dest} already exists but was not extracted from {url} (sha256 {expected}); "
                        "remove it or choose another destination")
    dest.parent.mkdir(parents=True, exist_ok=True)
    archive, actual = _fetch(url, dest.parent, progress)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        if actual != expected:
            raise DataError(f"{url}: sha256 mismatch: expected {expected}, got {actual}; "
                            "the download was deleted")
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging / "x")  # extractall drops absolute paths and '..' components
        except zipfile.BadZipFile as e:
            raise DataError(f"{url}: not a valid zip archive ({e})") from None
        entries = [p for p in (staging / "x").iterdir() if p.name != "__MACOSX"]
        content = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging / "x"
        (content / MARKER).write_text(json.dumps({"url": url, "sha256": expected}, indent=2))
        os.replace(content, dest)
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def download_grouplens(name: str, data_root, *, progress: bool = True) -> pathlib.Path:
    """Fetch a GroupLens MovieLens release into <data_root>/<name>/, the layout load_dataset expects."""
    if name not in GROUPLENS:
        raise DataError(f"unknown GroupLens archive {name!r}; known: {', '.join(GROUPLENS)}")
    archive = GROUPLENS[name]
    return download_and_extract(archive.url, pathlib.Path(data_root) / name, archive.sha256, progress=progress)
