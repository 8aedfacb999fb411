"""The second classification stage: character n-grams and a linear model, loaded without pickle.

A model file is a NumPy .npz read with allow_pickle=False: plain arrays (vocabulary, idf, weights,
intercepts, class names) and a JSON metadata string. Loading therefore never executes code, and
inference is done here with NumPy, so the running product does not need scikit-learn at all.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

OUT_OF_SCOPE = "out_of_scope"
HEAD_CHARS = 120  # the subject line and the opening of the detail decide (SPEC §2); the rest is noise
NGRAMS = (1, 2, 3)
FORMAT = 1


def head(text: str) -> str:
    """The part of a message the label is read from: subject and opening, case- and space-folded."""
    return "".join(text[: HEAD_CHARS + 40].replace("\x00", " ").split()).lower()[:HEAD_CHARS]


def gram_key(gram: str) -> int:
    """An n-gram as one integer (21 bits per code point): what `_indices` looks up with NumPy."""
    key = 0
    for ch in gram:
        key = (key << 21) | ord(ch)
    return key


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(head(text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def features(text: str) -> set[str]:
    """Distinct character 1-3-grams of the head; the analyzer training and inference share."""
    t = head(text)
    out = set(t)
    out.update([t[i:i + 2] for i in range(len(t) - 1)])
    out.update([t[i:i + 3] for i in range(len(t) - 2)])
    return out


@dataclass(frozen=True)
class Prediction:
    """The model's best class, its probability, and whether it clears the threshold."""

    label: str
    probability: float
    confident: bool
    probabilities: Any = None  # ndarray in class order


class TextModel:
    """A trained n-gram model; `predict` only reads it, so one instance is shared by all threads."""

    def __init__(self, vocab: list[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: list[str], meta: dict[str, Any]):
        self.vocab = vocab
        keys = np.array([gram_key(g) for g in vocab], dtype=np.uint64)
        self._order = np.argsort(keys, kind="stable")
        self._keys = np.append(keys[self._order], np.uint64(2**64 - 1))  # sentinel: searchsorted never overruns
        self.idf = idf.astype(np.float64)
        self.idf2 = self.idf ** 2
        self.coef = coef.astype(np.float64)  # (classes, features), as scikit-learn has it
        self.weights = (self.coef * self.idf).T.copy()  # (features, classes): idf folded in
        self.intercept = intercept.astype(np.float64)
        self.classes = list(classes)
        self.meta = dict(meta)
        self.threshold = float(meta.get("threshold", 0.5))
        self.version = str(meta.get("version", "unversioned"))

    def _indices(self, text: str) -> np.ndarray:
        """Vocabulary indices of the text's distinct n-grams: the same set `features` gives, found in NumPy."""
        a = _codes(text)
        q = np.concatenate((a, (a[:-1] << 21) | a[1:], (a[:-2] << 42) | (a[1:-1] << 21) | a[2:]))
        pos = np.searchsorted(self._keys, q)
        seen = np.zeros(len(self._keys), dtype=bool)  # binary features: each n-gram once (cheaper than unique)
        seen[pos[self._keys[pos] == q]] = True
        return self._order[np.flatnonzero(seen)]

    def scores(self, text: str) -> np.ndarray:
        """Decision values per class, exactly as binary tf-idf (l2) + the linear model give them."""
        idx = self._indices(text)
        if not len(idx):
            return self.intercept.copy()
        return self.weights[idx].sum(axis=0) / math.sqrt(self.idf2[idx].sum()) + self.intercept

    def predict(self, text: str) -> Prediction:
        """Best class and its softmax probability; confident only at or above the threshold."""
        s = self.scores(text)
        e = np.exp(s - s.max())
        p = e / e.sum()
        best = int(p.argmax())
        prob = float(p[best])
        return Prediction(self.classes[best], prob, prob >= self.threshold, p)

    def probabilities(self, prediction: Prediction) -> dict[str, float]:
        """Per-class probabilities of a prediction, rounded, for explain and reports."""
        return {c: round(float(v), 4) for c, v in zip(self.classes, prediction.probabilities, strict=True)}

    def top_ngrams(self, text: str, label: str, n: int = 6) -> list[tuple[str, float]]:
        """The n-grams that pushed hardest towards `label`: the model's "why" for explain."""
        idx = self._indices(text)
        if not len(idx) or label not in self.classes:
            return []
        c = self.classes.index(label)
        norm = math.sqrt(float(self.idf2[idx].sum()))
        contrib = self.weights[idx, c] / norm
        order = np.argsort(-contrib)[:n]
        return [(self.vocab[idx[k]], round(float(contrib[k]), 3)) for k in order if contrib[k] > 0]

    def save(self, path: Path) -> None:
        """Write plain arrays only: the file can be loaded with allow_pickle=False."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(fh, vocab=np.array(self.vocab, dtype=str), idf=self.idf.astype(np.float32),
                                coef=self.coef.astype(np.float32), intercept=self.intercept.astype(np.float32),
                                classes=np.array(self.classes, dtype=str),
                                meta=np.array(json.dumps(self.meta, ensure_ascii=False, sort_keys=True)))

    @classmethod
    def load(cls, path: Path | str) -> TextModel:
        """Read a model file; raise ModelError on anything that is not one of ours."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                model = cls([str(g) for g in z["vocab"]], z["idf"], z["coef"], z["intercept"],
                            [str(c) for c in z["classes"]], meta)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{path}: not a readable text model ({exc})") from None
        if meta.get("format") != FORMAT or model.coef.shape != (len(model.classes), len(model.vocab)):
            raise ModelError(f"{path}: unsupported model format or inconsistent shapes")
        return model


class ModelError(Exception):
    """A model file that cannot be used; the caller keeps the model it had."""
