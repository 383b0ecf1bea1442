"""Readers for the raw interaction and item-text formats.

Every reader returns interactions in file order, because the file order is the stable tie-break for
equal timestamps, and item text keyed by the source's own item id. Nothing here filters, sorts or
remaps (that is preprocess.py), so each reader can be checked line by line against its file.

Files are read and decoded whole rather than line by line: that is several times faster on the
million-line MovieLens and SASRec files, and on a decode error the line number is recovered from
the byte offset. Lines are split on "\\n" only, never with str.splitlines, which would also split
on \\x85 and \\x1c, characters that occur inside latin-1 movie titles.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import gzip
import io
import itertools
import json
import math
import operator
import os
import pathlib
import re
import zlib
from collections.abc import Sequence

import numpy as np

from engine.data.errors import DataError

PathLike = str | os.PathLike
ItemText = dict[str, dict[str, str]]

_INT = re.compile(r"\s*[+-]?\d+\s*")
_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


@dataclasses.dataclass
class RawInteractions:
    """Interactions as read: one entry per line (or table row), in file order."""

    users: np.ndarray  # str
    items: np.ndarray  # str
    timestamps: np.ndarray | None = None  # int64 unix seconds
    ratings: np.ndarray | None = None  # float32

    def __post_init__(self):
        n = len(self.users)
        for name in ("items", "timestamps", "ratings"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"RawInteractions.{name} has {len(value)} entries, users has {n}")

    def __len__(self) -> int:
        return len(self.users)


# --------------------------------------------------------------------------- text and fields


def read_text(path: PathLike, encoding: str = "utf-8") -> str:
    """The whole file as text (gunzipped when it ends in .gz), or a DataError naming the bad line."""
    path = pathlib.Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a file") from None
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read file ({e})") from e
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path}:{line}: bytes are not valid {encoding} ({e.reason}, byte {e.start} of the file)"
        ) from None
    # A NUL is valid UTF-8 and the csv module accepts it inside a field, so without this check a
    # corrupt or binary file silently becomes new users and items ("12\x00" is not "12").
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DataError(f"{path}:{line}: NUL byte in the text; the file is binary or corrupt")
    return text


def _lines(text: str) -> tuple[list[str], Sequence[int]]:
    """Non-blank lines (without their line ending) and their 1-based line numbers.

    Built with map/compress rather than a Python loop: this runs over a million lines."""
    lines = text.split("\n")
    if "\r" in text:
        lines = list(map(operator.methodcaller("rstrip", "\r"), lines))
    if lines and not lines[-1]:
        lines.pop()
    keep = list(map(str.strip, lines))
    numbers = range(1, len(lines) + 1)
    if all(keep):
        return lines, numbers
    return list(itertools.compress(lines, keep)), list(itertools.compress(numbers, keep))


def _split(path, lines, numbers, sep: str, nfields: int, layout: str) -> np.ndarray:
    """A [lines, nfields] str array. Joining and splitting the whole text once is several times
    faster than a list per line, so the field count is checked by counting separators first."""
    counts = list(map(operator.methodcaller("count", sep), lines))
    if counts.count(nfields - 1) != len(counts):
        k = next(k for k, c in enumerate(counts) if c != nfields - 1)
        raise DataError(f"{path}:{numbers[k]}: expected {nfields} fields `{layout}`, got {counts[k] + 1}")
    return np.array(sep.join(lines).split(sep) if lines else [], dtype=str).reshape(len(lines), nfields)


def _where(path, numbers: Sequence[int] | None, index: int) -> str:
    """'path:line' for text files, 'path: row r' for tables without lines (Parquet)."""
    return f"{path}:{numbers[index]}" if numbers is not None else f"{path}: row {index + 1}"


def _ints(path, values: np.ndarray, numbers, what: str) -> np.ndarray:
    """Parse a whole column at once; only on failure walk it to report the first bad line."""
    try:
        return np.asarray(values).astype(np.int64)
    except (ValueError, OverflowError):
        pass
    for k, v in enumerate(values):
        if not _INT.fullmatch(str(v)) or not -(2**63) <= int(v) < 2**63:
            raise DataError(f"{_where(path, numbers, k)}: {what} {str(v)!r} is not an integer")
    raise DataError(f"{path}: {what} column is not all integers")  # pragma: no cover


def _floats(path, values: np.ndarray, numbers, what: str) -> np.ndarray:
    try:
        return np.asarray(values).astype(np.float32)
    except ValueError:
        pass
    for k, v in enumerate(values):
        try:
            float(v)
        except ValueError:
            raise DataError(f"{_where(path, numbers, k)}: {what} {str(v)!r} is not a number") from None
    raise DataError(f"{path}: {what} column is not all numbers")  # pragma: no cover


def _one_timestamp(value: str) -> int | None:
    value = value.strip()
    if _INT.fullmatch(value):
        return int(value) if -(2**63) <= int(value) < 2**63 else None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:  # naive times are taken as UTC so that results do not depend on the machine
        moment = moment.replace(tzinfo=datetime.UTC)
    return math.floor(moment.timestamp())


def parse_timestamps(path, values: np.ndarray, numbers=None) -> np.ndarray:
    """Integer unix seconds or ISO-8601 text -> int64 seconds; each distinct text is parsed once."""
    try:
        return np.asarray(values).astype(np.int64)
    except (ValueError, OverflowError):
        pass
    distinct, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    parsed = np.empty(len(distinct), np.int64)
    for k, value in enumerate(distinct.tolist()):
        seconds = _one_timestamp(value)
        if seconds is None:
            first = int(np.flatnonzero(inverse == k)[0])
            raise DataError(
                f"{_where(path, numbers, first)}: timestamp {value!r} is neither integer seconds nor ISO-8601"
            )
        parsed[k] = seconds
    return parsed[inverse.reshape(-1)]


def _split_title(title: str) -> tuple[str, str]:
    match = _TITLE_YEAR.match(title)
    return (match[1], match[2]) if match else (title.strip(), "")


def _clean(value: str) -> str:
    value = value.strip()
    return "" if value in ("N/A", "NA") else value


# --------------------------------------------------------------------------- MovieLens


def read_movielens_ratings(path: PathLike, sep: str = "::") -> RawInteractions:
    """`user::item::rating::timestamp` (ML-1M ratings.dat[.gz]) or tab-separated (ML-100K u.data)."""
    lines, numbers = _lines(read_text(path))
    table = _split(path, lines, numbers, sep, 4, sep.join(["user", "item", "rating", "timestamp"]))
    if not len(table):
        raise DataError(f"{path}: no ratings in file")
    users, items = table[:, 0], table[:, 1]
    _ints(path, users, numbers, "user id")
    _ints(path, items, numbers, "item id")
    ratings = _floats(path, table[:, 2], numbers, "rating")
    timestamps = _ints(path, table[:, 3], numbers, "timestamp")
    return RawInteractions(users, items, timestamps, ratings)


def read_ml1m_movies(movies_path: PathLike, extra_path: PathLike | None = None) -> ItemText:
    """movies.dat (title, year, genres) merged with MeLU's movies_extrainfos (director ... plot, rating)."""
    lines, numbers = _lines(read_text(movies_path, "latin-1"))
    table = _split(movies_path, lines, numbers, "::", 3, "MovieID::Title (Year)::Genres")
    _ints(movies_path, table[:, 0], numbers, "MovieID")
    text: ItemText = {}
    for movie, title, genres in table.tolist():
        title, year = _split_title(title)
        text[movie.strip()] = {"title": title, "year": year, "genres": ", ".join(genres.split("|"))}
    if extra_path is None:
        return text
    layout = "MovieID::title::year::MPAA::released::genres::director::writers::actors::plot::poster"
    lines, numbers = _lines(read_text(extra_path, "utf-8"))
    table = _split(extra_path, lines, numbers, "::", 11, layout)
    _ints(extra_path, table[:, 0], numbers, "MovieID")
    for row in table.tolist():
        fields = text.setdefault(row[0].strip(), {"title": _clean(row[1]), "year": _clean(row[2]), "genres": ""})
        fields.update(director=_clean(row[6]), writers=_clean(row[7]), actors=_clean(row[8]),
                      plot=_clean(row[9]), rated=_clean(row[3]))
    return text


def read_ml100k_items(item_path: PathLike, genre_path: PathLike) -> ItemText:
    """u.item (pipe-separated, latin-1) with its 19 genre flags turned into names from u.genre."""
    lines, numbers = _lines(read_text(genre_path, "latin-1"))
    table = _split(genre_path, lines, numbers, "|", 2, "name|index")
    genres = dict(zip(_ints(genre_path, table[:, 1], numbers, "genre index").tolist(), table[:, 0].tolist()))
    names = [genres.get(k, "") for k in range(len(genres))]
    layout = "id|title|release date|video release date|IMDb URL|" + "|".join(["flag"] * len(names))
    lines, numbers = _lines(read_text(item_path, "latin-1"))
    table = _split(item_path, lines, numbers, "|", 5 + len(names), layout)
    _ints(item_path, table[:, 0], numbers, "movie id")
    text: ItemText = {}
    for row, number in zip(table.tolist(), numbers):
        flags = row[5:]
        if any(flag not in ("0", "1") for flag in flags):
            raise DataError(f"{item_path}:{number}: genre flags must be 0 or 1, got {'|'.join(flags)}")
        title, year = _split_title(row[1])
        text[row[0].strip()] = {
            "title": title,
            "year": year,
            "genres": ", ".join(name for name, flag in zip(names, flags) if flag == "1"),
            "release_date": row[2].strip(),
            "imdb_url": row[4].strip(),
        }
    return text


# --------------------------------------------------------------------------- SASRec-format files


def read_sasrec_sequences(path: PathLike) -> RawInteractions:
    """Lines `user item [item ...]`, chronological within a user; a user may span several lines."""
    text = read_text(path)
    lines, numbers = _lines(text)
    if not lines:
        raise DataError(f"{path}: no interactions in file")
    counts = np.fromiter(map(len, map(str.split, lines)), np.int64, len(lines))  # tokens per line
    for k in np.flatnonzero(counts < 2)[:1]:
        raise DataError(f"{path}:{numbers[k]}: expected `user item [item ...]`, got a user with no items")
    tokens = np.array(text.split(), dtype=str)
    is_head = np.zeros(len(tokens), bool)
    is_head[np.cumsum(counts) - counts] = True
    heads, items, counts = tokens[is_head], tokens[~is_head], counts - 1
    _ints(path, heads, numbers, "user id")
    _ints(path, items, np.repeat(np.asarray(numbers), counts), "item id")
    return RawInteractions(np.repeat(heads, counts), items)


def read_id_map(path: PathLike) -> dict[str, str]:
    """Two integer ids per line (`sas_id original_id`), as in sas_to_original_items.txt."""
    lines, numbers = _lines(read_text(path))
    fields = [line.split() for line in lines]
    for row, number in zip(fields, numbers):
        if len(row) != 2:
            raise DataError(f"{path}:{number}: expected 2 fields `id original_id`, got {len(row)}")
    table = np.array(fields, dtype=str).reshape(len(fields), 2)
    _ints(path, table[:, 0], numbers, "id")
    _ints(path, table[:, 1], numbers, "original id")
    return dict(table.tolist())


def _read_tsv(path, columns: Sequence[str]) -> tuple[list[list[str]], list[int], dict[str, int]]:
    """A tab-separated file with a header; no quoting, since titles contain bare quotes."""
    lines, numbers = _lines(read_text(path))
    if not lines:
        raise DataError(f"{path}: empty file, expected a header with {', '.join(columns)}")
    header = lines[0].split("\t")
    _check_unique_header(f"{path}:{numbers[0]}", [name.strip() for name in header])
    index = {name.strip(): k for k, name in enumerate(header)}
    for name in columns:
        if name not in index:
            raise DataError(f"{path}: column {name!r} not found (header: {', '.join(header)})")
    rows = _split(path, lines[1:], numbers[1:], "\t", len(header), "\t".join(header)).tolist()
    return rows, numbers[1:], index


def _split_brand(attribute_lists: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Separate the brand from the category path in S3Rec's Beauty attributes.

    An item's attributes are `[brand,] top-level category, sub-category, ...`. The top-level categories
    are whatever follows a leading name that never appears deeper in any path (so it must be a brand);
    deriving them from the data avoids hard-coding Amazon's category tree.
    """
    deeper = {name for names in attribute_lists for name in names[1:]}
    top = {names[1] for names in attribute_lists if len(names) > 1 and names[0] not in deeper}
    brands, categories = [], []
    for names in attribute_lists:
        has_brand = bool(names) and names[0] not in top
        brand = names[0] if has_brand else ""
        brands.append("" if brand == "Unknown" else brand)  # Amazon's placeholder for "no brand"
        categories.append(names[1:] if has_brand else names)
    return brands, categories


def read_beauty_items(path: PathLike) -> ItemText:
    """amazon-beauty/items.tsv: item_id, asin, title, attributes ('|'-joined brand and categories)."""
    rows, numbers, col = _read_tsv(path, ("item_id", "asin", "title", "attributes"))
    attributes = [[a for a in row[col["attributes"]].split("|") if a] for row in rows]
    brands, categories = _split_brand(attributes)
    text: ItemText = {}
    _ints(path, [row[col["item_id"]] for row in rows], numbers, "item_id")
    for row, brand, cats in zip(rows, brands, categories):
        text[row[col["item_id"]].strip()] = {"title": row[col["title"]].strip(), "brand": brand,
                      "categories": ", ".join(cats), "asin": row[col["asin"]].strip()}
    return text


def read_yelp_items(path: PathLike) -> ItemText:
    """yelp/items.tsv: item_id, business_id, name, categories ('|'-joined)."""
    rows, numbers, col = _read_tsv(path, ("item_id", "business_id", "name", "categories"))
    text: ItemText = {}
    _ints(path, [row[col["item_id"]] for row in rows], numbers, "item_id")
    for row in rows:
        categories = [c for c in row[col["categories"]].split("|") if c]
        text[row[col["item_id"]].strip()] = {"name": row[col["name"]].strip(), "categories": ", ".join(categories),
                      "business_id": row[col["business_id"]].strip()}
    return text


# --------------------------------------------------------------------------- a user's own tables


def table_kind(path: PathLike) -> str:
    """'csv' | 'tsv' | 'jsonl' | 'parquet' from the file name (.gz allowed except for Parquet)."""
    name = pathlib.Path(path).name.lower()
    stem = name.removesuffix(".gz")
    for suffixes, kind in (((".csv",), "csv"), ((".tsv", ".tab"), "tsv"), ((".jsonl", ".ndjson"), "jsonl")):
        if stem.endswith(suffixes):
            return kind
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise DataError(f"{path}: unknown table format; use .csv, .tsv, .jsonl (optionally .gz) or .parquet")


def _check_unique_header(where: str, header: Sequence[str]) -> None:
    """A column named twice would be read from one of its copies only, silently; refuse it."""
    seen: dict[str, int] = {}
    for k, name in enumerate(header):
        if name in seen:
            raise DataError(f"{where}: column {name!r} appears twice in the header (fields {seen[name] + 1} and {k + 1})")
        seen[name] = k


def _unclosed_quote(path, start: int, end: int) -> DataError:
    return DataError(f"{path}:{start}: unbalanced quote: the quoted field opened on this line is not closed "
                     f"before line {end}")


def _read_delimited(path, columns: Sequence[str] | None, sep: str,
                    single_line: Sequence[str] = ()) -> tuple[dict[str, list[str]], list[int]]:
    """Columns (None = all) of a CSV/TSV with a header (csv module quoting), and the line each row starts on.

    A quoted field may span lines (item descriptions), so an unbalanced quote swallows every line up to the
    next quote character; the parser then fails, or returns a row of the wrong width, far below the real
    error. Rows are therefore numbered by the line they start on, and a row spanning lines that fails is
    reported as an unbalanced quote at its first line. Columns in `single_line` (ids, times, ratings) can
    never hold a line break, so a value with one is the same error even when the row's width is right."""
    reader = csv.reader(io.StringIO(read_text(path, "utf-8-sig"), newline=""), delimiter=sep)
    start = 1
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file, expected a header with {', '.join(columns)}")
        header = [name.strip() for name in header]
        _check_unique_header(f"{path}:{reader.line_num}", header)
        columns = header if columns is None else columns
        for name in columns:
            if name not in header:
                raise DataError(f"{path}: column {name!r} not found (header: {', '.join(header)})")
        picks = [header.index(name) for name in columns]
        values: dict[str, list[str]] = {name: [] for name in columns}
        numbers = []
        start = reader.line_num + 1
        for row in reader:
            first, start = start, reader.line_num + 1
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                if reader.line_num > first:
                    raise _unclosed_quote(path, first, reader.line_num)
                raise DataError(f"{path}:{first}: expected {len(header)} fields, got {len(row)}")
            for name, k in zip(columns, picks):
                values[name].append(row[k])
            if reader.line_num > first and any("\n" in row[header.index(name)] for name in single_line):
                raise _unclosed_quote(path, first, reader.line_num)
            numbers.append(first)
    except csv.Error as e:
        if reader.line_num > start:
            raise _unclosed_quote(path, start, reader.line_num) from None
        raise DataError(f"{path}:{reader.line_num}: {e}") from None
    return values, numbers


def _pyarrow(path):
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow; install it with `pip install pyarrow`") from None
    return pq


def _read_parquet(path, columns: Sequence[str]):
    """Arrow columns of a Parquet file; pyarrow is imported only here, as an optional dependency."""
    pq = _pyarrow(path)
    if not pathlib.Path(path).exists():
        raise DataError(f"{path}: file not found")
    try:
        names = pq.read_schema(path).names
    except Exception as e:  # pyarrow raises its own ArrowInvalid / OSError subclasses
        raise DataError(f"{path}: not a readable Parquet file ({e})") from e
    _check_unique_header(str(path), names)
    for name in columns:
        if name not in names:
            raise DataError(f"{path}: column {name!r} not found (columns: {', '.join(names)})")
    table = pq.read_table(path, columns=list(dict.fromkeys(columns)))
    return {name: table.column(name) for name in columns}


def _arrow_strings(path, column, name) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        first = pc.index(pc.is_null(column), True).as_py()
        raise DataError(f"{path}: row {first + 1}: column {name!r} is empty")
    values = column.cast(pa.string()).to_pylist()
    bad = next((k for k, v in enumerate(values) if "\0" in v), None)  # numpy's str arrays drop trailing NULs
    if bad is not None:
        raise DataError(f"{path}: row {bad + 1}: column {name!r} holds a NUL byte; the file is corrupt")
    return np.asarray(values, dtype=str)


def _arrow_timestamps(path, column, name) -> np.ndarray:
    import pyarrow as pa

    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return parse_timestamps(path, _arrow_strings(path, column, name))
    if column.null_count:
        _arrow_strings(path, column, name)  # raises, naming the first empty row
    if pa.types.is_timestamp(kind):
        per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[kind.unit]
        return column.cast(pa.int64()).to_numpy() // per_second
    if pa.types.is_date(kind):
        return column.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy()
    if pa.types.is_integer(kind):
        return column.to_numpy().astype(np.int64)
    if pa.types.is_floating(kind):
        values = column.to_numpy()
        bad = np.flatnonzero(values != np.floor(values))
        if bad.size:
            raise DataError(f"{path}: row {bad[0] + 1}: timestamp {values[bad[0]]!r} is not an integer")
        return values.astype(np.int64)
    raise DataError(f"{path}: column {name!r} has type {kind}, expected integer seconds, a timestamp or text")


def read_table(path: PathLike, *, user_col: str, item_col: str, time_col: str = "",
               rating_col: str = "") -> RawInteractions:
    """A user's interactions from CSV/TSV(.gz)/Parquet; time and rating columns are optional ('' = none)."""
    path = pathlib.Path(path)
    if not user_col or not item_col:
        raise DataError(f"{path}: user and item column names must be set (got {user_col!r}, {item_col!r})")
    kind = table_kind(path)
    if kind == "jsonl":
        raise DataError(f"{path}: interactions must be CSV, TSV or Parquet, not JSONL")
    columns = [c for c in (user_col, item_col, time_col, rating_col) if c]
    if kind == "parquet":
        data = _read_parquet(path, columns)
        users = _arrow_strings(path, data[user_col], user_col)
        items = _arrow_strings(path, data[item_col], item_col)
        times = _arrow_timestamps(path, data[time_col], time_col) if time_col else None
        ratings = None
        if rating_col:
            column = data[rating_col]
            values = column.to_numpy(zero_copy_only=False) if column.null_count == 0 else None
            if values is None or values.dtype.kind not in "iuf":
                values = _arrow_strings(path, column, rating_col)
            ratings = _floats(path, values, None, "rating")
        numbers = None
    else:
        values, numbers = _read_delimited(path, columns, "," if kind == "csv" else "\t", single_line=columns)
        users = np.array([v.strip() for v in values[user_col]], dtype=str)
        items = np.array([v.strip() for v in values[item_col]], dtype=str)
        for name, column in ((user_col, users), (item_col, items)):
            for k in np.flatnonzero(column == "")[:1]:
                raise DataError(f"{path}:{numbers[k]}: column {name!r} is empty")
        times = parse_timestamps(path, np.array(values[time_col], dtype=str), numbers) if time_col else None
        ratings = _floats(path, np.array(values[rating_col], dtype=str), numbers, "rating") if rating_col else None
    if len(users) == 0:
        raise DataError(f"{path}: no interactions in file")
    return RawInteractions(users, items, times, ratings)


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, tuple)):
        return ", ".join(_as_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def read_item_text(path: PathLike, item_col: str) -> ItemText:
    """Item text from CSV/TSV/JSONL(.gz)/Parquet: the item column plus every other column as a text field."""
    path = pathlib.Path(path)
    kind = table_kind(path)
    text: ItemText = {}
    if kind == "jsonl":
        lines, numbers = _lines(read_text(path, "utf-8-sig"))
        for line, number in zip(lines, numbers):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict) or item_col not in row:
                raise DataError(f"{path}:{number}: expected a JSON object with key {item_col!r}")
            text[_as_text(row[item_col])] = {k: _as_text(v) for k, v in row.items() if k != item_col}
        return text
    if kind == "parquet":
        pq = _pyarrow(path)
        _read_parquet(path, [item_col])  # existence and column checks with our messages
        rows = pq.read_table(path).to_pylist()
    else:
        values, _ = _read_delimited(path, None, "," if kind == "csv" else "\t")
        if item_col not in values:
            raise DataError(f"{path}: column {item_col!r} not found (header: {', '.join(values)})")
        rows = [dict(zip(values, cells)) for cells in zip(*values.values())]
    for row in rows:
        text[_as_text(row[item_col])] = {k: _as_text(v) for k, v in row.items() if k != item_col}
    return text
