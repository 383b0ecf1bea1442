"""One text per item, from the processed dataset's item text (items.jsonl) and a template.

    texts = render_item_texts(dataset.item_text(), template_for(dataset.name, fields))
    texts.texts[i]      # the text of internal item i; texts.texts[0] == "" (padding)

A template is Python str.format text over the item's fields ("{title} ({year})"), with one addition:
a part in square brackets is optional and is dropped when every field in it is empty, so an item without a
director does not read "Directed by .". A field the dataset does not have is an error naming the config key;
a field that is empty for one item renders as "". An item whose fields are all empty gets the fallback text
("item {id}", with its original id) and is counted, so embeddings of such items are visible in metadata.

Fields per dataset (engine.data.readers): ml-1m / ml-1m-sasrec: title, year, genres, director, writers, actors,
plot, rated (movie_id for ml-1m-sasrec); ml-100k: title, year, genres, release_date, imdb_url; beauty: title,
brand, categories, asin; yelp: name, categories, business_id; custom: the columns of data.item_text_path.
Every dataset also has "id", the item's original id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import string
from collections.abc import Sequence

import numpy as np

_MOVIE = "{title}[ ({year})][. Genres: {genres}][. Directed by {director}][. Starring {actors}][. {plot}]"
DEFAULT_TEMPLATES = {
    "ml-1m-sasrec": _MOVIE,
    "ml-1m": _MOVIE,
    "ml-100k": "{title}[ ({year})][. Genres: {genres}]",
    "beauty": "{title}[. Brand: {brand}][. Categories: {categories}]",
    "yelp": "{name}[. Categories: {categories}]",
}
# The "most characteristic" categorical field per dataset, for LDA classes (its first entry per item).
LABEL_FIELDS = {"ml-1m-sasrec": "genres", "ml-1m": "genres", "ml-100k": "genres", "beauty": "categories",
                "yelp": "categories"}
_LABEL_CANDIDATES = ("genres", "genre", "categories", "category")
DEFAULT_FALLBACK = "item {id}"
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


@dataclasses.dataclass(frozen=True)
class ItemTexts:
    texts: list[str]  # index i = internal item i; texts[0] = "" (padding)
    template: str
    fallback_items: list[int]  # internal ids of the items that got the fallback text

    @property
    def num_fallback(self) -> int:
        return len(self.fallback_items)

    def digest(self) -> str:
        return text_digest(self.texts)


def text_digest(texts: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode()).hexdigest()


def dataset_fields(rows: Sequence[dict]) -> list[str]:
    """The text fields of items.jsonl rows (the same keys on every row), "id" first."""
    fields = dict.fromkeys(["id"])
    for row in rows[1:2]:
        fields.update(dict.fromkeys(row))
    return list(fields)


def template_for(dataset_name: str, fields: Sequence[str], configured: str = "") -> str:
    """The configured template, else the dataset's default, else every field as "name: value"."""
    if configured:
        return configured
    if dataset_name in DEFAULT_TEMPLATES:
        return DEFAULT_TEMPLATES[dataset_name]
    text_fields = [f for f in fields if f != "id"]
    return "".join(f"[. {f}: {{{f}}}]" for f in text_fields) if text_fields else DEFAULT_FALLBACK


def _segments(template: str, fields: Sequence[str], key: str) -> list[tuple[bool, str, list[str]]]:
    """(optional?, format text, field names) per part, checking brackets and field names."""
    parts, pos = [], 0
    for match in _OPTIONAL.finditer(template):
        parts += [(False, template[pos:match.start()]), (True, match.group(1))]
        pos = match.end()
    parts.append((False, template[pos:]))
    out = []
    for optional, text in parts:
        if not optional and ("[" in text or "]" in text):
            raise ValueError(f"{key}: unbalanced or nested square brackets in template {template!r} "
                             "(a [part] is optional; brackets cannot be nested)")
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        except ValueError as error:
            raise ValueError(f"{key}: malformed template {template!r}: {error}") from None
        for name in names:
            if name not in fields:
                raise ValueError(f"{key}: unknown field {name!r} in template {template!r}; this dataset's items "
                                 f"have the fields: {', '.join(fields)}")
        out.append((optional, text, names))
    return out


def _render(segments, row: dict) -> tuple[str, bool]:
    """The text and whether any field in it was non-empty."""
    values = {k: ("" if v is None else str(v).strip()) for k, v in row.items()}
    pieces, found = [], False
    for optional, text, names in segments:
        filled = [n for n in names if values.get(n, "")]
        if optional and names and not filled:
            continue
        found = found or any(n != "id" for n in filled)
        pieces.append(text.format_map({n: values.get(n, "") for n in names}))
    return " ".join("".join(pieces).split()).lstrip(" .,;:-"), found


def render_item_texts(rows: Sequence[dict], template: str, *, fallback: str = DEFAULT_FALLBACK,
                      key: str = "text.template") -> ItemTexts:
    """Texts for items.jsonl rows (row 0 = padding). `key` names the config key in error messages."""
    if not template.strip():
        raise ValueError(f"{key}: the template is empty")
    fields = dataset_fields(rows)
    segments = _segments(template, fields, key)
    fallback_segments = _segments(fallback, fields, key.rsplit(".", 1)[0] + ".fallback")
    if not any(n != "id" for _, _, names in segments for n in names):
        raise ValueError(f"{key}: template {template!r} uses no text field; fields: {', '.join(fields)}")
    texts, fallback_items = [""], []
    for i, row in enumerate(rows[1:], 1):
        text, found = _render(segments, row)
        if not found or not text:
            text, _ = _render(fallback_segments, {**row, "id": row.get("id", str(i))})
            fallback_items.append(i)
        texts.append(text)
    return ItemTexts(texts, template, fallback_items)


def label_field_for(dataset_name: str, fields: Sequence[str], configured: str = "") -> str:
    """The configured class field, else the dataset's, else the first of genres/categories it has, else ''."""
    if configured:
        return configured
    if dataset_name in LABEL_FIELDS:
        return LABEL_FIELDS[dataset_name]
    return next((f for f in _LABEL_CANDIDATES if f in fields), "")


def item_labels(rows: Sequence[dict], field: str, index: int = 0, *, combine: bool = False,
                key: str = "reduce.label_field") -> np.ndarray:
    """One class per item: entry `index` of the comma-separated `field` (0 = first genre/category), or with
    `combine` all its entries sorted and joined by '_' (the classes of the LLM-Sequential-Recommendation paper,
    Section 6: one class per distinct keyword set); items without one get "(none)". Row 0 is "" (padding).
    For LDA."""
    fields = dataset_fields(rows)
    if field not in fields:
        raise ValueError(f"{key}: unknown field {field!r}; this dataset's items have the fields: {', '.join(fields)}")
    labels = [""]
    for row in rows[1:]:
        entries = [e.strip() for e in str(row.get(field) or "").split(",") if e.strip()]
        if combine:
            labels.append("_".join(sorted(set(entries))) or "(none)")
        else:
            labels.append(entries[index] if -len(entries) <= index < len(entries) else "(none)")
    return np.asarray(labels, dtype=str)
