"""llm.item_text: templates with optional parts, missing and unknown fields, fallback texts, LDA labels."""

import pytest

from llm.item_text import DEFAULT_TEMPLATES, item_labels, render_item_texts, template_for

ROWS = [
    {},
    {"id": "10", "title": "Heat", "year": "1995", "genres": "Action, Crime", "director": "Michael Mann", "plot": ""},
    {"id": "11", "title": "Toy Story", "year": "", "genres": "Animation", "director": "", "plot": "Toys live."},
    {"id": "12", "title": "", "year": "", "genres": "", "director": "", "plot": ""},
]


def test_optional_parts_are_dropped_when_their_fields_are_empty():
    texts = render_item_texts(ROWS, "{title}[ ({year})][. Directed by {director}][. {plot}]")
    assert texts.texts[:3] == ["", "Heat (1995). Directed by Michael Mann", "Toy Story. Toys live."]


def test_missing_values_render_empty_and_whitespace_is_tidied():
    texts = render_item_texts(ROWS, "{title}  by {director}")
    assert texts.texts[2] == "Toy Story by"


def test_items_without_text_get_the_fallback_and_are_counted():
    texts = render_item_texts(ROWS, "{title}[. Genres: {genres}]")
    assert texts.texts[3] == "item 12"
    assert texts.fallback_items == [3] and texts.num_fallback == 1
    custom = render_item_texts(ROWS, "{title}", fallback="unknown movie #{id}")
    assert custom.texts[3] == "unknown movie #12"


def test_unknown_and_malformed_templates_name_the_config_key():
    with pytest.raises(ValueError, match=r"text\.template: unknown field 'brand'.*fields: id, title, year"):
        render_item_texts(ROWS, "{title} by {brand}")
    with pytest.raises(ValueError, match=r"text\.template: malformed template"):
        render_item_texts(ROWS, "{title")
    with pytest.raises(ValueError, match=r"text\.template: unbalanced or nested square brackets"):
        render_item_texts(ROWS, "{title}[ ({year})")
    with pytest.raises(ValueError, match=r"text\.fallback: unknown field 'name'"):
        render_item_texts(ROWS, "{title}", fallback="{name}")


def test_default_templates_and_auto_template():
    assert template_for("beauty", ["id", "title"]) == DEFAULT_TEMPLATES["beauty"]
    assert template_for("beauty", ["id", "title"], "{title}!") == "{title}!"
    auto = template_for("custom", ["id", "name", "colour"])
    rows = [{}, {"id": "a", "name": "Shirt", "colour": "red"}, {"id": "b", "name": "", "colour": "blue"}]
    assert render_item_texts(rows, auto).texts[1:] == ["name: Shirt. colour: red", "colour: blue"]


def test_digest_changes_with_the_text():
    a = render_item_texts(ROWS, "{title}")
    b = render_item_texts(ROWS, "{title} ({year})")
    assert a.digest() != b.digest() and a.digest() == render_item_texts(ROWS, "{title}").digest()


def test_item_labels_take_the_first_entry():
    labels = item_labels(ROWS, "genres")
    assert labels.tolist() == ["", "Action", "Animation", "(none)"]
    assert item_labels(ROWS, "genres", -1).tolist()[1] == "Crime"
    with pytest.raises(ValueError, match=r"reduce\.label_field: unknown field 'categories'"):
        item_labels(ROWS, "categories")


def test_combined_item_labels_are_the_sorted_entry_sets():
    rows = ROWS + [{"id": "13", "title": "Ronin", "genres": "Crime, Action, Crime"}]
    labels = item_labels(rows, "genres", combine=True)
    assert labels.tolist() == ["", "Action_Crime", "Animation", "(none)", "Action_Crime"]
