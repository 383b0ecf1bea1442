"""Tokenizer and chat template of a Hugging Face model directory, without transformers.

tokenizer.json runs in `tokenizers`; the chat template (tokenizer_config.json's `chat_template`, or the
chat_template.jinja file transformers 5 writes) is rendered with jinja2 the way transformers renders it
(sandboxed, trim_blocks, lstrip_blocks, `raise_exception`, `tojson`)."""

from __future__ import annotations

import json
import pathlib


class LMTokenizer:
    def __init__(self, model_dir):
        from tokenizers import Tokenizer

        self.model_dir = pathlib.Path(model_dir)
        path = self.model_dir / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found (the model directory needs a tokenizers tokenizer.json)")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        config_path = self.model_dir / "tokenizer_config.json"
        self.config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        template = self.config.get("chat_template")
        if isinstance(template, list):  # several named templates: the default one
            template = next((t["template"] for t in template if t.get("name") == "default"), None)
        jinja = self.model_dir / "chat_template.jinja"
        if template is None and jinja.is_file():
            template = jinja.read_text(encoding="utf-8")
        self.chat_template = template
        self._compiled = None
        generation = self.model_dir / "generation_config.json"
        eos = json.loads(generation.read_text()).get("eos_token_id") if generation.is_file() else None
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.eos_id = self.token_id(self._token_text("eos_token"))  # the one a training answer ends with
        if self.eos_id is not None:
            eos_ids.add(self.eos_id)
        self.eos_ids = frozenset(eos_ids)
        pad = self.token_id(self._token_text("pad_token"))
        self.pad_id = pad if pad is not None else (min(self.eos_ids) if self.eos_ids else 0)

    def _token_text(self, key: str) -> str | None:
        value = self.config.get(key)
        return value.get("content") if isinstance(value, dict) else value

    def token_id(self, text: str | None) -> int | None:
        return None if text is None else self.tokenizer.token_to_id(text)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def encode_batch(self, texts, *, add_special_tokens: bool = False) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=add_special_tokens)]

    def decode(self, ids, *, skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def apply_chat_template(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        """The prompt text of a conversation (tokenize it with add_special_tokens=False: the template holds them)."""
        if not self.chat_template:
            raise ValueError(f"{self.model_dir / 'tokenizer_config.json'}: no chat_template (nor chat_template.jinja); "
                             "use the plain 'alpaca' template (config key data.template) for this model")
        if self._compiled is None:
            from jinja2.ext import loopcontrols
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            def raise_exception(message):
                raise ValueError(f"chat template of {self.model_dir}: {message}")

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
            env.filters["tojson"] = lambda x, indent=None, **kw: json.dumps(x, ensure_ascii=False, indent=indent)
            env.globals["raise_exception"] = raise_exception
            self._compiled = env.from_string(self.chat_template)
        specials = {k: self._token_text(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
        return self._compiled.render(messages=messages, add_generation_prompt=add_generation_prompt, **specials)
