"""The processed dataset: CSR-style sequences plus id maps, item text and provenance.

On disk a processed dataset is a directory:

    sequences.npz  offsets, items, [timestamps], user_ids, item_ids (unicode arrays, no pickles)
    meta.json      name, counts, options, source files with sha256, format version, created time
    items.jsonl    one JSON object per item id 0..N; row 0 (padding) is {}, row i has "id" and text

The arrays are one flat CSR layout rather than a list of per-user arrays because it loads in a few
milliseconds, slices without copies and hands straight to grain/numpy batching. Item text lives in
its own file and is parsed only when asked for: most training runs never need it.

Writes are atomic (temp dir beside the target, then os.replace) so that a crash, a full disk or two
processes building the same cache entry never leave a half-written directory that a later run would
trust.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
import zipfile

import numpy as np

from engine.data.errors import DataError
from engine.data.readers import read_text
from engine.run_dir import write_dir_atomic

FORMAT_VERSION = 1
SEQUENCES_FILE, META_FILE, ITEMS_FILE = "sequences.npz", "meta.json", "items.jsonl"


@dataclasses.dataclass(frozen=True, eq=False)
class SequenceDataset:
    """Per-user chronological item sequences; item ids are 1..num_items, 0 is padding."""

    name: str
    num_items: int
    offsets: np.ndarray  # int64 [num_users + 1]
    items: np.ndarray  # int32 [num_interactions]
    timestamps: np.ndarray | None  # int64 [num_interactions] or None
    user_ids: np.ndarray  # str [num_users]
    item_ids: np.ndarray  # str [num_items + 1], entry 0 = ""
    path: pathlib.Path | None = None
    meta: dict = dataclasses.field(default_factory=dict)
    # Item text rows for a dataset built in memory (not yet saved); loaded datasets read items.jsonl.
    _item_text: list | None = dataclasses.field(default=None, repr=False, kw_only=True)

    def __post_init__(self):
        # Frozen, so normalise dtypes once here; np.asarray does not copy arrays that already fit.
        coerced = {"offsets": np.asarray(self.offsets, dtype=np.int64), "items": np.asarray(self.items, dtype=np.int32),
                   "user_ids": np.asarray(self.user_ids, dtype=str), "item_ids": np.asarray(self.item_ids, dtype=str),
                   "num_items": int(self.num_items)}
        if self.timestamps is not None:
            coerced["timestamps"] = np.asarray(self.timestamps, dtype=np.int64)
        if self.path is not None:
            coerced["path"] = pathlib.Path(self.path)
        for key, value in coerced.items():
            object.__setattr__(self, key, value)
        problem = _check_arrays(self)
        if problem:
            raise ValueError(f"inconsistent SequenceDataset {self.name!r}: {problem}")

    @property
    def num_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_interactions(self) -> int:
        return len(self.items)

    def sequence(self, u: int) -> np.ndarray:
        return self.items[self.offsets[u]:self.offsets[u + 1]]

    def item_text(self) -> list[dict]:
        """Rows of items.jsonl, index i = item i (row 0 = {}), read on first use and cached."""
        if self._item_text is None:
            if self.path is None:
                rows = [{}] + [{"id": str(i)} for i in self.item_ids[1:]]
            else:
                rows = _read_items_jsonl(self.path / ITEMS_FILE, self.num_items)
            object.__setattr__(self, "_item_text", rows)
        return self._item_text

    def full_meta(self) -> dict:
        """meta plus the fields that must always agree with the arrays."""
        meta = dict(self.meta)
        meta.update(name=self.name, num_users=self.num_users, num_items=self.num_items,
                    num_interactions=self.num_interactions, has_timestamps=self.timestamps is not None,
                    format_version=FORMAT_VERSION)
        meta.setdefault("created", datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
        return meta

    def save(self, directory) -> None:
        """Write the processed directory atomically; an existing directory is replaced whole."""
        def fill(staging: pathlib.Path) -> None:
            arrays = {"offsets": self.offsets, "items": self.items, "user_ids": self.user_ids,
                      "item_ids": self.item_ids}
            if self.timestamps is not None:
                arrays["timestamps"] = self.timestamps
            np.savez(staging / SEQUENCES_FILE, **arrays)
            _write_items_jsonl(staging / ITEMS_FILE, self.item_text(), self.item_ids)
            with open(staging / META_FILE, "w", encoding="utf-8") as f:
                json.dump(self.full_meta(), f, indent=2, ensure_ascii=False)

        write_dir_atomic(directory, fill)

    @classmethod
    def load(cls, directory) -> SequenceDataset:
        """Open a processed directory, checking it fully: a corrupt cache must not train silently."""
        directory = pathlib.Path(directory)
        if not directory.is_dir():
            raise DataError(f"{directory}: processed dataset directory not found")
        try:
            with open(directory / META_FILE, encoding="utf-8") as f:
                meta = json.load(f)
            with np.load(directory / SEQUENCES_FILE, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except FileNotFoundError as e:
            raise DataError(f"{directory}: not a processed dataset ({pathlib.Path(e.filename).name} missing)") from None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise DataError(f"{directory}: corrupt processed dataset ({e})") from None
        version = meta.get("format_version") if isinstance(meta, dict) else None
        if version != FORMAT_VERSION:
            raise DataError(f"{directory}: format version {version} is not {FORMAT_VERSION}; "
                            "delete the directory to rebuild it")
        missing = {"offsets", "items", "user_ids", "item_ids"} - arrays.keys()
        if missing or not (directory / ITEMS_FILE).is_file():
            raise DataError(f"{directory}: corrupt processed dataset (missing {sorted(missing) or ITEMS_FILE})")
        try:
            dataset = cls(name=meta.get("name", directory.name), num_items=len(arrays["item_ids"]) - 1,
                          offsets=arrays["offsets"], items=arrays["items"], timestamps=arrays.get("timestamps"),
                          user_ids=arrays["user_ids"], item_ids=arrays["item_ids"], path=directory, meta=meta)
        except (ValueError, TypeError) as e:
            raise DataError(f"{directory}: corrupt processed dataset ({e})") from None
        counts = {k: getattr(dataset, k) for k in ("num_users", "num_items", "num_interactions")}
        if any(meta.get(k) != v for k, v in counts.items()):
            raise DataError(f"{directory}: meta.json counts do not match the arrays ({counts})")
        return dataset


def _check_arrays(d: SequenceDataset) -> str:
    """What is wrong with the arrays, or '' when they are consistent."""
    if d.offsets.ndim != 1 or len(d.offsets) < 1 or d.offsets[0] != 0:
        return "offsets must be 1-D and start at 0"
    if np.any(np.diff(d.offsets) < 0) or d.offsets[-1] != len(d.items):
        return "offsets must be non-decreasing and end at len(items)"
    if len(d.user_ids) != len(d.offsets) - 1:
        return f"{len(d.user_ids)} user_ids for {len(d.offsets) - 1} users"
    if len(d.item_ids) != d.num_items + 1 or (len(d.item_ids) and d.item_ids[0] != ""):
        return f"item_ids must have num_items + 1 = {d.num_items + 1} entries starting with ''"
    if len(d.items) and (d.items.min() < 1 or d.items.max() > d.num_items):
        return f"items must lie in 1..{d.num_items}"
    if d.timestamps is not None and len(d.timestamps) != len(d.items):
        return "timestamps must have one entry per interaction"
    return ""


def item_text_rows(item_ids: np.ndarray, text: dict[str, dict[str, str]], numeric_ids: bool = False) -> list[dict]:
    """items.jsonl rows: {} for padding, then {"id": ..., field: text} with the same keys on every row."""
    if numeric_ids:  # "007" in a text file is item 7 when the interactions' ids were integers
        text = {(str(int(k)) if k.strip().lstrip("+-").isdigit() else k): v for k, v in text.items()}
    fields = list(dict.fromkeys(key for row in text.values() for key in row))
    rows: list[dict] = [{}]
    for item in item_ids[1:]:
        found = text.get(str(item), {})
        rows.append({"id": str(item), **{key: found.get(key, "") for key in fields}})
    return rows


def _write_items_jsonl(path: pathlib.Path, rows: list[dict], item_ids: np.ndarray) -> None:
    if len(rows) != len(item_ids):
        raise ValueError(f"{len(rows)} item text rows for {len(item_ids)} item ids")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _read_items_jsonl(path: pathlib.Path, num_items: int) -> list[dict]:
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}: corrupt item text ({e.msg})") from None
    if len(rows) != num_items + 1:
        raise DataError(f"{path}: {len(rows)} rows, expected num_items + 1 = {num_items + 1}")
    return rows
