"""Named datasets and a user's own tables -> a processed, cached SequenceDataset.

Parsing a million-line file and k-coring it takes seconds, loading the processed arrays takes
milliseconds, and every process of a multi-process run asks for the same data; so load_dataset
builds the processed directory once and reuses it. The cache key hashes the *contents* of the
source files (not their paths or mtimes, which change when data is copied), the preprocessing
options and FORMAT_VERSION: changing any of them gives a new directory instead of a stale one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pathlib
import time
from collections.abc import Callable

from engine.data import readers
from engine.data.dataset import FORMAT_VERSION, SequenceDataset, item_text_rows
from engine.data.errors import DataError
from engine.data.preprocess import Options, preprocess

log = logging.getLogger(__name__)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "datasets"

Files = dict[str, pathlib.Path | None]
Reader = Callable[[Files], tuple[readers.RawInteractions, readers.ItemText]]


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a named dataset's files live under the data root and how to read them."""

    folder: str
    files: dict[str, tuple[str, ...]]  # role -> accepted file names, first one present wins
    read: Reader
    optional: frozenset[str] = frozenset()
    hint: str = ""


def _ml1m_movies(files: Files) -> readers.ItemText:
    return readers.read_ml1m_movies(files["movies"], files.get("extra"))


def _read_ml1m_sasrec(files: Files):
    movies = _ml1m_movies(files)
    mapping = readers.read_id_map(files["item_map"])  # SASRec item id -> MovieID
    text = {sas: {**movies.get(movie, {}), "movie_id": movie} for sas, movie in mapping.items()}
    return readers.read_sasrec_sequences(files["sequences"]), text


def _read_ml1m(files: Files):
    return readers.read_movielens_ratings(files["ratings"], "::"), _ml1m_movies(files)


def _read_ml100k(files: Files):
    text = readers.read_ml100k_items(files["items"], files["genres"])
    return readers.read_movielens_ratings(files["ratings"], "\t"), text


def _read_beauty(files: Files):
    return readers.read_sasrec_sequences(files["sequences"]), readers.read_beauty_items(files["items"])


def _read_yelp(files: Files):
    return readers.read_sasrec_sequences(files["sequences"]), readers.read_yelp_items(files["items"])


def _read_beauty_bert4rec(files: Files):
    return readers.read_sasrec_sequences(files["sequences"]), {}


_DOWNLOAD_HINT = "; download it with engine.data.download.download_grouplens({!r}, <data root>)"
_MOVIES = {"movies": ("movies.dat",), "extra": ("movies_extrainfos.dat.gz", "movies_extrainfos.dat")}

SOURCES: dict[str, Source] = {
    "ml-1m-sasrec": Source(
        "ml-1m",
        {"sequences": ("ml-1m_sasrec.txt.gz", "ml-1m_sasrec.txt"), "item_map": ("sas_to_original_items.txt",),
         **_MOVIES},
        _read_ml1m_sasrec, frozenset({"extra"})),
    "ml-1m": Source("ml-1m", {"ratings": ("ratings.dat", "ratings.dat.gz"), **_MOVIES}, _read_ml1m,
                    frozenset({"extra"}), _DOWNLOAD_HINT.format("ml-1m")),
    "ml-100k": Source("ml-100k", {"ratings": ("u.data",), "items": ("u.item",), "genres": ("u.genre",)},
                      _read_ml100k, hint=_DOWNLOAD_HINT.format("ml-100k")),
    "beauty": Source("amazon-beauty", {"sequences": ("Beauty.txt", "Beauty.txt.gz"), "items": ("items.tsv",)},
                     _read_beauty),
    "yelp": Source("yelp", {"sequences": ("Yelp.txt", "Yelp.txt.gz"), "items": ("items.tsv",)}, _read_yelp),
    "beauty-bert4rec": Source("amazon-beauty-bert4rec", {"sequences": ("beauty.txt.gz", "beauty.txt")},
                              _read_beauty_bert4rec),
}
KNOWN_DATASETS = (*SOURCES, "custom")


def _data_root(configured: str = "") -> tuple[pathlib.Path, str]:
    """The data root and, for messages, which of the three settings chose it."""
    if configured:
        root, origin = pathlib.Path(configured).expanduser(), "the config's `root`"
    elif os.environ.get("SEQREC_DATA"):
        root, origin = pathlib.Path(os.environ["SEQREC_DATA"]).expanduser(), "$SEQREC_DATA"
    elif DEFAULT_DATA_ROOT.is_dir():
        return DEFAULT_DATA_ROOT, "the default ../shared/data beside the checkout"
    else:
        raise DataError(
            "no data root: set the config's `root`, or the environment variable SEQREC_DATA, "
            f"or put the datasets in {DEFAULT_DATA_ROOT} (../shared/data beside the checkout)"
        )
    if not root.is_dir():
        raise DataError(f"data root {root} (from {origin}) does not exist or is not a directory")
    return root, origin


def resolve_data_root(configured: str = "") -> pathlib.Path:
    """The config value if non-empty, else $SEQREC_DATA, else ../shared/data beside the repo."""
    return _data_root(configured)[0]


def cache_dir(configured: str = "") -> pathlib.Path:
    """The config value if non-empty, else $SEQREC_CACHE, else <repo root>/.cache/datasets."""
    return pathlib.Path(configured or os.environ.get("SEQREC_CACHE") or DEFAULT_CACHE_DIR).expanduser()


def file_sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _setting(cfg, key: str, default):
    value = getattr(cfg, key, default)
    return default if value is None else value


def _locate(name: str, cfg) -> tuple[Files, Reader, dict]:
    """Source files by role (DataError naming what is missing and where it looked), the reader,
    and the reader settings that belong in the cache key."""
    if name != "custom":
        source = SOURCES[name]
        root, origin = _data_root(str(_setting(cfg, "root", "")))
        folder = root / source.folder
        files: Files = {}
        for role, names in source.files.items():
            files[role] = next((folder / n for n in names if (folder / n).is_file()), None)
            if files[role] is None and role not in source.optional:
                raise DataError(f"dataset {name!r}: {' or '.join(names)} not found in {folder} "
                                f"(data root {root}, from {origin}){source.hint}")
        return files, source.read, {}

    columns = {key: str(_setting(cfg, key, default)) for key, default in
               (("user_col", "user"), ("item_col", "item"), ("time_col", "timestamp"), ("rating_col", "rating"))}
    path = str(_setting(cfg, "path", ""))
    if not path:
        raise DataError("dataset 'custom' needs `path`: a CSV, TSV or Parquet file of interactions")
    files = {"interactions": pathlib.Path(path).expanduser()}
    if text_path := str(_setting(cfg, "item_text_path", "")):
        files["item_text"] = pathlib.Path(text_path).expanduser()
    for role, file in files.items():
        if not file.is_file():
            key = "path" if role == "interactions" else "item_text_path"
            raise DataError(f"{file}: file not found (the custom dataset's `{key}`)")

    def read(files: Files):
        raw = readers.read_table(files["interactions"], **columns)
        text = readers.read_item_text(files["item_text"], columns["item_col"]) if "item_text" in files else {}
        return raw, text

    return files, read, columns


def load_dataset(cfg) -> SequenceDataset:
    """Build (or reuse) <cache_dir>/<name>-<hash12>/ for the configured dataset and load it."""
    name = str(_setting(cfg, "name", ""))
    if name not in KNOWN_DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)}")
    options = Options(min_rating=float(_setting(cfg, "min_rating", 0.0)),
                      user_core=int(_setting(cfg, "user_core", 0)), item_core=int(_setting(cfg, "item_core", 0)),
                      dedup=bool(_setting(cfg, "dedup", False)))
    files, read, columns = _locate(name, cfg)
    sources = [{"role": role, "path": str(path.resolve()), "sha256": file_sha256(path), "bytes": path.stat().st_size}
               for role, path in files.items() if path is not None]
    settings = {**dataclasses.asdict(options), **columns}
    key_payload = {"format_version": FORMAT_VERSION, "options": settings,
                   "sources": sorted([s["role"], s["sha256"]] for s in sources)}
    key = hashlib.sha256(json.dumps(key_payload, sort_keys=True).encode()).hexdigest()
    target = cache_dir(str(_setting(cfg, "cache_dir", ""))) / f"{name}-{key[:12]}"

    if target.is_dir():
        try:
            return SequenceDataset.load(target)
        except DataError as e:
            log.warning("rebuilding the processed dataset: %s", e)

    start = time.perf_counter()
    raw, text = read(files)
    seqs = preprocess(raw, options, name)
    for note in seqs.notes:
        log.warning("dataset %r: %s", name, note)
    rows = item_text_rows(seqs.item_ids, text, seqs.numeric_ids)
    meta = {"name": name, "options": settings, "sources": sources, "stats": seqs.stats, "notes": seqs.notes,
            "text_fields": [k for k in rows[1] if k != "id"] if len(rows) > 1 else [], "cache_key": key}
    dataset = SequenceDataset(name=name, num_items=len(seqs.item_ids) - 1, offsets=seqs.offsets, items=seqs.items,
                              timestamps=seqs.timestamps, user_ids=seqs.user_ids, item_ids=seqs.item_ids,
                              meta=meta, _item_text=rows)
    try:
        SequenceDataset.load(target)  # another process may have finished the same build meanwhile
    except DataError:
        dataset.save(target)
    log.info("processed %s: %d users, %d items, %d interactions in %.1fs -> %s", name, dataset.num_users,
             dataset.num_items, dataset.num_interactions, time.perf_counter() - start, target)
    return SequenceDataset.load(target)
