"""Versioned prompt templates.

A template is named text with a version: `PromptTemplate("llm4rsr/item_memory", 1, "...{title}...")`. Its
rendered text is in every request built from it, so any edit changes the answer cache key; the version and a
hash of the text also go into the inputs of the stage that uses it, so editing a template re-runs that stage
(rather than reusing artifacts made with the old wording). Bump the version when the wording changes on
purpose, so run directories and results say which wording they used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import string


@dataclasses.dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    text: str

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(self.text) if f))

    @property
    def id(self) -> str:
        """name@vN#sha: what a stage records as the template it used."""
        return f"{self.name}@v{self.version}#{hashlib.sha256(self.text.encode()).hexdigest()[:12]}"

    def render(self, **values) -> str:
        missing = [f for f in self.fields if f not in values]
        if missing:
            raise KeyError(f"prompt template {self.name}@v{self.version} needs {', '.join(missing)}")
        extra = [k for k in values if k not in self.fields]
        if extra:
            raise KeyError(f"prompt template {self.name}@v{self.version} has no field {', '.join(extra)}")
        return self.text.format(**values)
