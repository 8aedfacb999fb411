"""The text model: inference equals scikit-learn's, files load without pickle, the shipped model is reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from rules.learn import fit, read_corpus, split
from rules.textmodel import ModelError, TextModel, features, head

SHIPPED = "rules/corpus/model.npz"


@pytest.fixture(scope="module")
def small():
    """A model fitted on a third of the corpus (fast), with the texts it was fitted on."""
    examples = read_corpus()
    _, part = split(examples, holdout=0.33)
    return fit(part, "t1"), part


def test_head_reads_the_subject_and_opening_only():
    text = "公交站台太远\n" + "老人要走很远才能坐车。" * 40 + "另外楼道里有人赌博"
    assert head(text).startswith("公交站台太远老人") and "赌博" not in head(text)
    assert {"公", "公交", "公交站"} <= features(text)


def test_numpy_inference_matches_scikit_learn(small, tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer

    model, part = small
    model.save(tmp_path / "m.npz")
    loaded = TextModel.load(tmp_path / "m.npz")
    vec = TfidfVectorizer(analyzer=features, binary=True, norm="l2", vocabulary=model.vocab)
    x = vec.fit_transform([e.text for e in part])
    assert np.allclose(vec.idf_, model.idf)
    texts = [e.text for e in part[:50]] + ["完全没见过的内容", ""]
    expected = vec.transform(texts) @ model.coef.T + model.intercept
    for text, row in zip(texts, expected, strict=True):
        assert np.allclose(loaded.scores(text), row, atol=1e-4)
    assert x.shape[0] == len(part)


def test_a_pickled_or_foreign_file_is_refused(tmp_path):
    bad = tmp_path / "evil.npz"
    np.savez(bad, vocab=np.array([{"a": 1}], dtype=object), meta=np.array("{}"))
    with pytest.raises(ModelError, match="not a readable text model"):
        TextModel.load(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelError):
        TextModel.load(tmp_path / "junk.npz")


def test_unsure_text_is_not_confident(small):
    model, _ = small
    p = model.predict("嗯")
    assert not p.confident and p.probability < model.threshold


def test_shipped_model_is_what_learn_builds_from_the_shipped_corpus(cfg, tmp_path):
    from rules.learn_run import build_shipped

    rebuilt, _ = build_shipped(cfg, path=tmp_path / "shipped.npz")
    rebuilt = TextModel.load(tmp_path / "shipped.npz")
    shipped = TextModel.load(SHIPPED)
    assert shipped.vocab == rebuilt.vocab and shipped.classes == rebuilt.classes
    assert np.allclose(shipped.coef, rebuilt.coef, atol=1e-5) and np.allclose(shipped.intercept, rebuilt.intercept)
    assert shipped.meta == rebuilt.meta




def test_batch_prediction_equals_one_by_one(small):
    model, part = small
    texts = [e.text for e in part[:300]] + ["", "x", "两个", "完全没见过的内容" * 50, "  \n "]
    one = [model.predict(t) for t in texts]
    many = model.predict_many(texts)
    assert [p.label for p in many] == [p.label for p in one]
    assert np.allclose([p.probability for p in many], [p.probability for p in one], atol=1e-12)
    assert [p.confident for p in many] == [p.confident for p in one]
    assert model.predict_many([]) == []
    assert model.predict_many(["一"])[0].label == model.predict("一").label  # one text shorter than a bigram
