"""Render the result tables of docs/RESULTS.md and the README from the kept run files, as
docs/results/manifest.toml says; or check that the documents hold exactly what rendering gives.

    python -m launch.report render            # rewrite the marked tables in place
    python -m launch.report render --check    # change nothing; exit 1 naming each table row that differs
    python -m launch.report pack-ranks        # move docs/results/**/ranks_test.npy into docs/results/ranks/*.npz

A table lives between `<!-- table: ID -->` and `<!-- /table -->`; the prose around it is written by hand."""

import pathlib
import sys

from absl import app, flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
flags.DEFINE_bool("check", False, "Only compare the documents with a fresh rendering; exit 1 on a difference.")
flags.DEFINE_string("root", str(ROOT), "The repository root: the manifest's documents are relative to it.")
flags.DEFINE_string("manifest", "docs/results/manifest.toml", "The results manifest, relative to --root.")


def render(check: bool, root: pathlib.Path, manifest: pathlib.Path) -> int:
    from engine.report.documents import differences, render_documents
    from engine.run_dir import write_text_atomic

    found = []
    for path, (old, new) in render_documents(root, manifest).items():
        if old == new:
            continue
        if check:
            found += [f"{path.relative_to(root)}: {d}" for d in differences(old, new)]
        else:
            write_text_atomic(path, new)
            print(f"rendered {path.relative_to(root)}")
    if found:
        print("\n".join(found) + "\nrender them with `python -m launch.report render`", file=sys.stderr)
        return 1
    return 0


def main(argv):
    command = argv[1:] or ["render"]
    root = pathlib.Path(flags.FLAGS.root)
    manifest = root / flags.FLAGS.manifest
    try:
        if command == ["render"]:
            sys.exit(render(flags.FLAGS.check, root, manifest))
        if command == ["pack-ranks"]:
            from engine.report.ranks_store import pack
            moved = pack(manifest.parent)
            print(f"moved {len(moved)} ranks_test.npy files into {manifest.parent / 'ranks'}")
            return
    except (OSError, ValueError) as error:
        sys.exit(f"error: {error}")
    sys.exit(f"error: unknown command {' '.join(command)!r}; use render [--check] or pack-ranks")


if __name__ == "__main__":
    app.run(main)
