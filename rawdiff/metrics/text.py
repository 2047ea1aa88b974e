"""Text-recognition metrics of DiD's OCR protocol (Nguyen et al., WACV-24, §5; the authors' PARSeq fork):
**word accuracy** (exact match) and **1 - normalised edit distance** over the 36-character case-insensitive set
(digits + lowercase), plus the character error rate — with our own Levenshtein distance."""
from __future__ import annotations

from typing import Sequence

__all__ = ["CHARSET", "normalize_text", "levenshtein", "word_accuracy", "one_minus_ned", "cer", "text_metrics"]

CHARSET = "0123456789abcdefghijklmnopqrstuvwxyz"  # DiD / PARSeq 36-character case-insensitive set
_CHARSET = frozenset(CHARSET)


def normalize_text(s: str) -> str:
    """Map to DiD/PARSeq's 36-character case-insensitive set: lowercase, keep only ``[0-9a-z]``."""
    return "".join(ch for ch in str(s).lower() if ch in _CHARSET)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (unit-cost insertions, deletions, substitutions), O(len(a) * len(b)) DP, O(min) memory."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _pairs(preds: Sequence[str], gts: Sequence[str], normalize: bool) -> list[tuple[str, str]]:
    preds, gts = list(preds), list(gts)
    if len(preds) != len(gts):
        raise ValueError(f"got {len(preds)} predictions for {len(gts)} ground-truth strings")
    f = normalize_text if normalize else str
    return [(f(p), f(g)) for p, g in zip(preds, gts)]


def word_accuracy(preds: Sequence[str], gts: Sequence[str], normalize: bool = True) -> float:
    """Fraction of exact matches after :func:`normalize_text` (nan for no words)."""
    pairs = _pairs(preds, gts, normalize)
    return sum(p == g for p, g in pairs) / len(pairs) if pairs else float("nan")


def one_minus_ned(preds: Sequence[str], gts: Sequence[str], normalize: bool = True) -> float:
    """Mean of ``1 - lev(p, g) / max(len(p), len(g))``; an empty prediction for an empty label counts 1."""
    pairs = _pairs(preds, gts, normalize)
    if not pairs:
        return float("nan")
    return sum(1.0 - (levenshtein(p, g) / max(len(p), len(g)) if (p or g) else 0.0) for p, g in pairs) / len(pairs)


def cer(preds: Sequence[str], gts: Sequence[str], normalize: bool = True) -> float:
    """Character error rate: total edit distance / total ground-truth characters (corpus-level).

    With no ground-truth characters at all: 0.0 if every prediction is empty too, else ``inf``.
    """
    pairs = _pairs(preds, gts, normalize)
    edits = sum(levenshtein(p, g) for p, g in pairs)
    total = sum(len(g) for _, g in pairs)
    if total == 0:
        return 0.0 if edits == 0 else float("inf")
    return edits / total


def text_metrics(preds: Sequence[str], gts: Sequence[str]) -> dict[str, float]:
    """``{"word_acc", "one_minus_ned", "cer", "n"}`` under DiD's normalisation."""
    preds, gts = list(preds), list(gts)
    return {"word_acc": word_accuracy(preds, gts), "one_minus_ned": one_minus_ned(preds, gts),
            "cer": cer(preds, gts), "n": len(gts)}
