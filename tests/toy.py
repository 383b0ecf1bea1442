"""A hand-made split: five training sessions over items 1..6 and one prompt, small enough to score by hand."""

import numpy as np

from engine.data.splits import Prompts, Split

SESSIONS = [[1, 2, 3], [2, 3, 4], [1, 4, 5], [5, 6], [3, 5, 6]]
SESSION_TIMES = np.array([10, 20, 30, 40, 50, 0])  # per training row; row 5 (the prompt's user) has none
PROMPT, TARGET = [1, 3], 2


def make_split(prompt=PROMPT, target=TARGET) -> Split:
    items = np.array([i for s in SESSIONS for i in s] + list(prompt) + [target], dtype=np.int32)
    offsets = np.cumsum([0] + [len(s) for s in SESSIONS])
    end = len(items)
    train_starts = np.append(offsets[:-1], end)
    train_ends = np.append(offsets[1:], end)
    prompts = Prompts(np.array([5]), np.array([offsets[-1]]), np.array([offsets[-1] + len(prompt)]),
                      np.array([target]))
    return Split("toy", items, train_starts, train_ends, prompts, prompts, 6)
