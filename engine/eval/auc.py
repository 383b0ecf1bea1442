"""`yes_no_auc`: ROC AUC of P("Yes") against binary like/dislike labels (TALLRec / TLRec).

AUC is the probability that a random positive is scored above a random negative, computed exactly
from ranks (Mann-Whitney U): AUC = (sum of positive ranks - P(P+1)/2) / (P * N). Tied scores get
their average rank, i.e. a tied positive/negative pair counts one half, which is what an LLM that
answers the same probability for several prompts deserves.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def p_yes_from_logits(yes_logits, no_logits) -> np.ndarray:
    """P("Yes") renormalised over the two answer tokens: softmax([yes, no])[0] = sigmoid(yes - no)."""
    diff = np.asarray(yes_logits, dtype=np.float64) - np.asarray(no_logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * diff))  # the tanh form of the sigmoid never overflows


def yes_no_auc(p_yes, labels) -> float:
    scores = np.asarray(p_yes, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(f"yes_no_auc needs one score per label: scores {scores.shape}, labels {labels.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("yes_no_auc: P(Yes) scores must be finite")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("yes_no_auc: labels must be 0/1 (or False/True)")
    positive = labels.astype(bool)
    num_pos, num_neg = int(positive.sum()), int((~positive).sum())
    if num_pos == 0 or num_neg == 0:
        raise ValueError(f"yes_no_auc needs both classes; got {num_pos} positive and {num_neg} negative labels")
    ranks = rankdata(scores, method="average")
    return float((ranks[positive].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))
