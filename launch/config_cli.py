"""The --config command line of the entry points: one-line errors with a "did you mean", and the config help.

ml_collections' config_flags reports a mistyped key, a missing config file or an unknown preset as a
chained traceback of 40-55 lines. `parse_flags` (absl's flags_parser) first checks the config file, its
preset and every `--config.KEY` override itself, so each mistake is one line naming what was typed and
the closest valid name; whatever absl still refuses (a value of the wrong type, an unknown flag) is cut to
its first line. `--help` adds the presets and every config key with its default, which `--config_help`
prints alone."""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import pathlib
import re
import sys

from absl import flags

DEFAULT_CONFIG = "configs/sasrec.py"
_ASSIGNMENT = re.compile(r"^\s*(?:c|config)\.([\w.]+)\s*=[^=].*?#\s*(.+)$")


class ConfigArgError(Exception):
    """A --config argument that cannot be used; the message is the whole error line."""


def _suggest(word: str, choices, what: str) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known {what}: {', '.join(choices)}"


def _config_arg(argv) -> str | None:
    for k, arg in enumerate(argv):
        if arg.startswith(("--config=", "-config=")):
            return arg.partition("=")[2]
        if arg in ("--config", "-config") and k + 1 < len(argv):
            return argv[k + 1]
    return None


def _overrides(argv) -> list[tuple[str, str]]:
    """(dotted key, the argument as typed) of every --config.KEY[=VALUE] argument."""
    found = []
    for arg in argv:
        for prefix in ("--config.", "-config."):
            if arg.startswith(prefix):
                found.append((arg[len(prefix):].partition("=")[0], arg))
    return found


def load_module(path: str):
    """The config module at `path`; ConfigArgError (with the closest file name) when there is none."""
    file = pathlib.Path(path)
    if not file.is_file():
        folder = file.parent if file.parent.is_dir() else pathlib.Path("configs")
        names = sorted(str(p) for p in folder.glob("*.py") if p.name not in ("__init__.py", "common.py"))
        raise ConfigArgError(f"config file {path} not found{_suggest(path, names, 'config files')}")
    spec = importlib.util.spec_from_file_location(f"_config_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def presets_of(module) -> list[str]:
    """The presets a config module accepts: its own PRESETS, else the shared dataset presets it applies."""
    if hasattr(module, "PRESETS"):
        return list(module.PRESETS)
    from configs.common import PRESETS
    return list(PRESETS)


def load(spec: str):
    """(module, config) for 'path[:preset]'; ConfigArgError for a missing file or an unknown preset."""
    path, _, preset = spec.partition(":")
    module = load_module(path)
    known = presets_of(module)
    if preset and preset not in known:
        raise ConfigArgError(f"unknown preset {preset!r} for {path} (--config {spec}){_suggest(preset, known, 'presets')}")
    try:
        return module, module.get_config(preset) if preset else module.get_config()
    except (ValueError, KeyError) as error:
        raise ConfigArgError(f"--config {spec}: {error}") from None


def _leaves(config, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if hasattr(value, "items"):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_overrides(config, overrides) -> None:
    """ConfigArgError naming the first --config.KEY that the config does not have, and the closest key."""
    leaves = _leaves(config)
    for key, typed in overrides:
        if key in leaves:
            continue
        section = key.rpartition(".")[0]
        siblings = [k for k in leaves if k.rpartition(".")[0] == section]
        if not siblings:
            sections = sorted({k.rpartition(".")[0] for k in leaves if "." in k})
            close = difflib.get_close_matches(key, list(leaves), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else _suggest(section, sections, "sections")
        else:
            hint = _suggest(key, siblings, f"keys of {section or 'the top level'}")
        raise ConfigArgError(f"unknown config key {key!r} ({typed}){hint}")


def _descriptions(*paths) -> dict[str, str]:
    """The trailing comment of each `c.section.key = value  # ...` line: what a key means, as declared."""
    found = {}
    for path in paths:
        for line in pathlib.Path(path).read_text().splitlines():
            match = _ASSIGNMENT.match(line)
            if match:
                found.setdefault(match[1], match[2].strip())
    return found


def config_help(spec: str | None) -> str:
    """The presets of a config file and every key with its default (under the preset, if one is named)."""
    spec = spec or DEFAULT_CONFIG
    module, config = load(spec)
    path, _, preset = spec.partition(":")
    if not preset:  # get_config() applies its default preset; say which
        default = inspect.signature(module.get_config).parameters
        preset = next((p.default for p in default.values() if isinstance(p.default, str)), "")
    common = pathlib.Path(__file__).resolve().parents[1] / "configs" / "common.py"
    notes = _descriptions(common, path)
    lines = [f"{path}: presets {', '.join(presets_of(module))} (choose one as --config {path}:PRESET)",
             "config keys (override with --config.KEY=VALUE) and their defaults"
             + (f" under preset {preset!r}:" if preset else ":")]
    leaves = _leaves(config)
    width = max(len(f"{k} = {v!r}") for k, v in leaves.items())
    for key, value in leaves.items():
        text = f"{key} = {value!r}"
        note = notes.get(key)
        lines.append(f"  {text:<{width}}  # {note}" if note else f"  {text}")
    return "\n".join(lines)


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_flags(argv):
    """absl's flags_parser for entry points with a --config flag (see the module docstring)."""
    argv = list(argv)
    asked_help = any(a in ("--help", "-help", "-h", "--helpshort", "--config_help") for a in argv[1:])
    try:
        spec = _config_arg(argv[1:])
        if asked_help:
            if "--config_help" not in argv:
                print(sys.modules["__main__"].__doc__ or "", flags.FLAGS.main_module_help(), "", sep="\n")
            print(config_help(spec))
            sys.exit(0)
        if spec is not None:
            _, config = load(spec)
            check_overrides(config, _overrides(argv[1:]))
    except ConfigArgError as error:
        _fail(str(error))
    try:
        return flags.FLAGS(argv)
    except Exception as error:  # noqa: BLE001 - absl flag errors and config_flags' loader errors alike
        lines = [line for line in str(error).splitlines() if line.strip()]
        _fail(lines[0] if lines else type(error).__name__)
