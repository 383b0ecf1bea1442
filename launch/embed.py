"""Embed every item's text and reduce the vectors to a recommender's width (llm.embedding_run).

    python -m launch.embed --config configs/embed.py:ml-1m --workdir runs/emb-ml-1m \
        [--config.embed.source=server --config.reduce.methods='("pca","random_projection")' ...]

Writes <workdir>/item_embeddings.npy + meta.json + texts.jsonl (the full-width vectors, row i = item i,
row 0 = zeros) and <workdir>/<method>-<dim>/item_embeddings.npy + meta.json per reduction, plus
<workdir>/config.json. The full-width vectors are cached under embed.cache_dir by model, template and
texts, so a second run (any workdir) embeds nothing."""

import json

from absl import app, flags
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file and preset, e.g. configs/embed.py:ml-1m.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Output directory for the embedding artifacts.")
flags.DEFINE_bool("progress", True, "Show a progress bar while embedding.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    from launch.common import run_guarded, start
    start(argv)
    from llm.embedding_run import embed
    from llm.errors import LLMError

    def guarded():
        try:
            return embed(flags.FLAGS.config, flags.FLAGS.workdir, progress=flags.FLAGS.progress)
        except LLMError as error:
            raise ValueError(str(error)) from None

    print(json.dumps(run_guarded(guarded), indent=2))


if __name__ == "__main__":
    app.run(main)
