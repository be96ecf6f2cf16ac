"""Dispute-type prediction: 大类 › 小类 with a calibrated probability, for queries and for cases that carry no type.

Trained only on what LeiAn ships or generates, never on the text being
scored: the taxonomy's names and synonyms, the element lexicon's forms (each
form labelled with the 小类 its element points to), fact sentences rendered
from the generator's templates (``data/generate_text.py``) and the bundled
ProMediConv sample's types (大类 only). Features are character 1–3-grams of
the normalised text plus the 纠纷要素 found in it, so a colloquial or 繁體
phrasing that the lexicon knows lands on the same features as the record
style. Two logistic regressions (fitted by SGD) (大类; 小类 within the whole taxonomy) are
combined as P(小类) = P(大类) · P(小类 | its 大类), and each is calibrated
by a temperature on its logits (:data:`TEMPERATURES`, chosen on the tuning
half of the dev set; docs/quality.md has the reliability table).

The trained model is cached per process and, given a folder, on disk
(``<home>/models/types-<version>.npz``: arrays and strings only, read with
``allow_pickle=False``; never committed); the version hashes every training
input, so a changed lexicon or taxonomy retrains it. A ``types-*.pkl`` left by
older code is never unpickled (loading a pickle runs code): it is removed.

Examples
--------
>>> model = TypeModel.default()
>>> guess = model.predict(["樓上衛生間漏水，我家天花板都發霉了"])[0]
>>> guess.category, guess.subtype, guess.probability > 0.5
('邻里', '漏水', True)
>>> guess.label().startswith("邻里 › 漏水（")
True
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import threading
import zipfile
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from leian.data.taxonomy import Taxonomy
from leian.disputes.lexicon import Lexicon, normalise

__all__ = ["TypeGuess", "TypeModel", "percent_text", "TEMPERATURES", "MODEL_VERSION", "fit", "training_examples", "sample_cases", "model_version"]

#: Bump when the features or the training recipe change.
MODEL_VERSION = 2
#: Logit temperatures of the 大类 and 小类 models (> 1 softens over-confident probabilities).
TEMPERATURES = {"category": 1.0, "subtype": 1.0}
#: Rendered sentences per generator fact template.
RENDERS_PER_TEMPLATE = 12
_lock = threading.Lock()
_loaded: dict[str, TypeModel] = {}


@dataclass(frozen=True)
class TypeGuess:
    """A predicted type: the best 小类, its 大类, their probabilities and the distribution over 小类."""

    category: str
    subtype: str
    category_probability: float
    probability: float
    subtypes: dict[str, float]
    categories: dict[str, float]

    def label(self) -> str:
        """``邻里 › 漏水（82%）``; only the 大类 when the 小类 is unsure (below half). The one display text of a
        guess: the CLI, the web page and the JSON ``text`` all show it (JSON keeps the raw probabilities)."""
        if self.probability >= 0.5:
            return f"{self.category} › {self.subtype}（{percent_text(self.probability)}）"
        return f"{self.category}（{percent_text(self.category_probability)}）"

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "subtype": self.subtype, "category_probability": round(self.category_probability, 3),
                "probability": round(self.probability, 3), "text": self.label()}


def percent_text(probability: float) -> str:
    """A model's probability as a whole percent that never claims certainty: 99%以上 rather than 100%, 不足1% rather than 0%.

    >>> percent_text(0.82), percent_text(0.9996), percent_text(0.003)
    ('82%', '99%以上', '不足1%')
    """
    shown = f"{probability:.0%}"
    return {"100%": "99%以上", "0%": "不足1%"}.get(shown, shown)


def _features(text: str) -> list[str]:
    """Character 1-3-grams of the normalised text, plus one feature per 纠纷要素 found."""
    normal = normalise(text)
    grams = [normal[i : i + n] for n in (1, 2, 3) for i in range(len(normal) - n + 1)]
    return grams + ["要素:" + name for name in Lexicon.elements().names(text)] * 3


def training_examples(seed: int = 0, *, sample: bool = True) -> list[tuple[str, str, str | None, float]]:
    """``(text, 大类, 小类 or None, weight)`` from the taxonomy, the element lexicon, the generator and (unless
    ``sample`` is false, to score the model on the sample) the bundled sample's types."""
    from leian.data import generate_text as words

    taxonomy = Taxonomy.default()
    parent = {sub: cat for cat, subs in taxonomy.categories.items() for sub in subs}
    examples: list[tuple[str, str, str | None, float]] = []
    spec = json.loads((resources.files("leian.data") / "taxonomy.json").read_text(encoding="utf-8"))
    for cat in spec["categories"]:
        for name in [cat["name"], *cat.get("synonyms", [])]:
            examples.append((name + "纠纷", cat["name"], None, 1.0))
        for sub in cat["subtypes"]:
            for name in [sub["name"], *sub.get("synonyms", [])]:
                examples.append((name + "纠纷", cat["name"], sub["name"], 1.0))
    for entry in Lexicon.elements().entries:
        for subtype in entry.subtypes:
            for form in entry.forms:
                examples.append((form.replace("…", ""), parent[subtype], subtype, 1.0 / len(entry.subtypes)))
    rng = random.Random(seed)
    for subtype, how in words.SUBTYPES.items():
        if subtype not in parent:
            continue
        for title in how.titles:
            examples.append((title, parent[subtype], subtype, 1.0))
        for fact in how.facts:
            parts = words.compile_template(fact)
            for _ in range(RENDERS_PER_TEMPLATE):
                examples.append((words.render(parts, rng, _Slots(rng)), parent[subtype], subtype, 1.0))
    for case in sample_cases() if sample else []:
        if case.category:
            examples.append((case.search_text, case.category, case.subtype, 1.0))
    return examples


def sample_cases() -> list[Any]:
    """The bundled ProMediConv sample as validated :class:`~leian.data.record.Case` objects, in file order."""
    from leian.data.record import validate

    text = (resources.files("leian.data") / "samples" / "promediconv.jsonl").read_text(encoding="utf-8")
    return [validate(json.loads(line)) for line in text.splitlines() if line.strip()]


class _Slots(dict):
    """Generator slots: word slots from its vocabulary, people and numbers as plain stand-ins."""

    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        from leian.data import generate_text as words

        if key in words.SLOT_WORDS:
            return self.rng.choice(words.SLOT_WORDS[key])
        return {"A": "王某", "B": "李某", "a": "王某", "b": "李某"}.get(key, "某")


@lru_cache(maxsize=1)
def model_version() -> str:
    """A hash of everything the model is trained from (its cache key); hashed once per process (the files are
    the installed package's, and every query's type prediction asks for the model by it)."""
    digest = hashlib.sha256(f"v{MODEL_VERSION} {RENDERS_PER_TEMPLATE}".encode())
    for package, name in (("leian.data", "taxonomy.json"), ("leian.disputes", "elements.json"), ("leian.data", "generate_text.py"),
                          ("leian.data", "samples/promediconv.jsonl")):
        digest.update((resources.files(package) / name).read_bytes())
    return digest.hexdigest()[:16]


class TypeModel:
    """The trained 大类 and 小类 classifiers over shared features."""

    def __init__(self, features: list[str], idf: np.ndarray, categories: list[str], subtypes: list[str],
                 weights: list[tuple[np.ndarray, np.ndarray]], version: str):
        """A model from its arrays: the TF-IDF features (in column order) and their idf, the 大类 and 小类 names, and
        per classifier its (features × classes) coefficients and intercepts."""
        self.vocabulary = {feature: column for column, feature in enumerate(features)}
        self.idf = idf
        self.categories = categories
        self.subtypes = subtypes
        self._weights = weights
        self.version = version
        taxonomy = Taxonomy.default()
        self.parent = {sub: cat for cat, subs in taxonomy.categories.items() for sub in subs}
        self._sub_category = np.array([self.categories.index(self.parent[s]) for s in self.subtypes])

    @classmethod
    def from_fitted(cls, vectorizer: Any, category_model: Any, subtype_model: Any, version: str) -> TypeModel:
        """A model from a fitted ``TfidfVectorizer`` and the two fitted classifiers."""
        features = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
        # Logits as one sparse-dense product: scikit-learn's decision_function copies the
        # coefficient matrix on every call (8 ms per query for the 小类 model).
        weights = [(np.ascontiguousarray(m.coef_.T), m.intercept_.copy()) for m in (category_model, subtype_model)]
        return cls(features, vectorizer.idf_.copy(), [str(c) for c in category_model.classes_],
                   [str(s) for s in subtype_model.classes_], weights, version)

    def save(self, path: Path) -> None:
        """Write the model's arrays to ``path`` (``.npz``), aside and renamed (a reader never sees half a file)."""
        (category_w, category_b), (subtype_w, subtype_b) = self._weights
        features = sorted(self.vocabulary, key=self.vocabulary.get)
        temporary = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(temporary, features=np.array(features, dtype=str), idf=self.idf, categories=np.array(self.categories, dtype=str),
                 subtypes=np.array(self.subtypes, dtype=str), category_w=category_w, category_b=category_b,
                 subtype_w=subtype_w, subtype_b=subtype_b, version=np.array(self.version))
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> TypeModel:
        """A model :meth:`save` wrote (arrays and strings only: nothing in the file can run)."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls(arrays["features"].tolist(), arrays["idf"], arrays["categories"].tolist(), arrays["subtypes"].tolist(),
                       [(arrays["category_w"], arrays["category_b"]), (arrays["subtype_w"], arrays["subtype_b"])],
                       str(arrays["version"]))

    @classmethod
    def train(cls, seed: int = 0, *, sample: bool = True) -> TypeModel:
        """A freshly trained model (seconds); ``sample=False`` leaves the bundled sample out (its version says so),
        so that the sample can score it."""
        return cls.from_fitted(*fit(training_examples(seed, sample=sample)), model_version() + ("" if sample else "-without-sample"))

    @classmethod
    def default(cls, cache_dir: str | os.PathLike[str] | None = None) -> TypeModel:
        """The model for the current training inputs: from this process, else ``cache_dir``, else trained (seconds)."""
        version = model_version()
        with _lock:
            if version in _loaded:
                return _loaded[version]
            path = Path(cache_dir) / f"types-{version}.npz" if cache_dir else None
            model = None
            if path:
                for legacy in path.parent.glob("types-*.pkl"):  # older code's pickles: never loaded
                    legacy.unlink(missing_ok=True)
                if path.is_file():
                    try:
                        model = cls.load(path)
                    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                        model = None  # a torn or foreign file: retrain
            if model is None:
                model = cls.train()
                if path:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    model.save(path)
            _loaded[version] = model
            return model

    def distributions(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated P(大类) ``(n, categories)`` and P(小类) ``(n, subtypes)`` per text."""
        matrix = self.features(texts)
        (category_w, category_b), (subtype_w, subtype_b) = self._weights
        category = _softmax(np.asarray(matrix @ category_w + category_b) / TEMPERATURES["category"])
        within = _softmax(np.asarray(matrix @ subtype_w + subtype_b) / TEMPERATURES["subtype"])
        # P(小类 | its 大类): the 小类 model's probabilities renormalised inside each 大类.
        totals = np.zeros_like(category)
        np.add.at(totals.T, self._sub_category, within.T)
        subtype = category[:, self._sub_category] * within / np.maximum(totals[:, self._sub_category], 1e-12)
        return category, subtype

    def features(self, texts: list[str]) -> Any:
        """The TF-IDF rows of ``texts``: what the fitted ``TfidfVectorizer.transform`` gives, computed the same way
        (counts of the known features, 1 + log, times idf, each row divided by its L2 norm summed in feature order),
        without scikit-learn's input checks on every call (≈ 0.4 ms of a query's ≈ 0.6)."""
        from scipy.sparse import csr_matrix

        vocabulary, idf = self.vocabulary, self.idf
        indices: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for text in texts:
            counts = Counter(index for index in map(vocabulary.get, _features(text)) if index is not None)
            columns = np.array(sorted(counts), dtype=np.int32)
            tf = np.array([counts[column] for column in columns.tolist()], dtype=np.float64)
            np.log(tf, tf)
            tf += 1.0
            tf *= idf[columns]
            squares = 0.0
            for value in tf.tolist():  # in order, as scikit-learn's row normalisation sums them
                squares += value * value
            if squares:
                tf /= math.sqrt(squares)
            indices.append(columns)
            values.append(tf)
        indptr = np.cumsum([0, *map(len, indices)])
        return csr_matrix((np.concatenate([np.zeros(0), *values]), np.concatenate([np.zeros(0, np.int32), *indices]), indptr),
                          shape=(len(texts), len(idf)))

    def predict(self, texts: list[str]) -> list[TypeGuess]:
        """The best 小类 per text, with the distributions behind it."""
        return self.guesses(*self.distributions(texts))

    def guesses(self, category: np.ndarray, subtype: np.ndarray) -> list[TypeGuess]:
        """The best 小类 per row of distributions from :meth:`distributions` (the model is not run again)."""
        guesses = []
        for cat_row, sub_row in zip(category, subtype):
            best = int(np.argmax(sub_row))
            name = self.subtypes[best]
            top = np.argsort(-sub_row)[:5]
            guesses.append(TypeGuess(
                category=self.parent[name], subtype=name,
                category_probability=float(cat_row[self.categories.index(self.parent[name])]),
                probability=float(sub_row[best]),
                subtypes={self.subtypes[i]: float(sub_row[i]) for i in top},
                categories={self.categories[i]: float(cat_row[i]) for i in np.argsort(-cat_row)[:3]},
            ))
        return guesses


def fit(examples: list[tuple[str, str, str | None, float]]) -> tuple[Any, Any, Any]:
    """The TF-IDF vectorizer and the 大类 and 小类 classifiers fitted on ``examples`` (:func:`training_examples`)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=_features, sublinear_tf=True, min_df=2)
    matrix = vectorizer.fit_transform([text for text, *_ in examples])
    weights = np.array([w for *_, w in examples])
    category_model = _classifier()
    category_model.fit(matrix, [cat for _, cat, _, _ in examples], sample_weight=weights)
    rows = [i for i, (_, _, sub, _) in enumerate(examples) if sub]
    subtype_model = _classifier()
    subtype_model.fit(matrix[rows], [examples[i][2] for i in rows], sample_weight=weights[rows])
    return vectorizer, category_model, subtype_model


def _classifier():
    """Logistic regression fitted by SGD: seconds on 2 cores where lbfgs takes a minute, about as accurate."""
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=30, tol=None, random_state=0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
