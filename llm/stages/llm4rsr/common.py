"""What the LLM4RSR stages share: the dataset and split of the config, item texts, the item type word."""

from __future__ import annotations

import functools

import ml_collections

ITEM_TYPES = {"ml-1m": "movie", "ml-1m-sasrec": "movie", "ml-100k": "movie", "beauty": "beauty product",
              "beauty-bert4rec": "beauty product", "yelp": "business"}


@functools.cache
def _load(data_json: str, protocol: str):
    import json

    from engine.data.sources import load_dataset
    from engine.data.splits import make_split

    data = ml_collections.ConfigDict(json.loads(data_json))
    dataset = load_dataset(data)
    if protocol != "loo_full":
        raise ValueError(f"split.protocol={protocol!r}: LLM4RSR corrects loo_full training instances (the paper's "
                         f"protocol); set split.protocol=loo_full")
    return dataset, make_split(dataset, protocol)


def load_data(config):
    """(dataset, split) of config.data / config.split, loaded once per process."""
    return _load(config.data.to_json(), config.split.protocol)


def dataset_key(dataset) -> str:
    return f"{dataset.name}:{dataset.meta.get('cache_key', '')}"


def item_type(config, dataset) -> str:
    return config.get("item_type") or ITEM_TYPES.get(dataset.name, "item")


def item_attributes(dataset) -> list[str]:
    """The attribute text of every item (index = internal id, [0] = ''), by the dataset's default template."""
    from llm.item_text import dataset_fields, render_item_texts, template_for

    rows = dataset.item_text()
    return render_item_texts(rows, template_for(dataset.name, dataset_fields(rows))).texts


def item_names(dataset, max_chars: int = 80) -> list[str]:
    """A short name per item for prompts: 'title (year)' or 'name', else the start of its attribute text."""
    rows = dataset.item_text()
    attributes = item_attributes(dataset)
    names = [""]
    for i in range(1, dataset.num_items + 1):
        row = rows[i] if i < len(rows) else {}
        title = str(row.get("title") or row.get("name") or "").strip()
        year = str(row.get("year") or "").strip()
        name = f"{title} ({year})" if title and year else title or attributes[i]
        names.append(name if len(name) <= max_chars else name[:max_chars - 3] + "...")
    return names


def plot_two_lines(path, x, first: tuple, second: tuple, xlabel: str, ylabel: str) -> None:
    """A small line plot of two series (values, label): the first solid with circles, the second dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for (values, label), style in ((first, "o-"), (second, "s--")):
        ax.plot(x, values, style, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks(x)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
