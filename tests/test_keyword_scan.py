"""The automaton finds exactly the keywords a substring test finds, overlapping and nested ones included."""

from __future__ import annotations

import random

import pytest

from rules.keyword_scan import KeywordScanner


def naive(words, text):
    return frozenset(w for w in words if w in text)


def test_overlapping_and_nested():
    words = ["消防", "消防通道", "通道", "堵塞", "ktv", "道堵"]
    scan = KeywordScanner(words)
    text = "小区消防通道堵塞，ktv门口"
    assert scan.found(text) == naive(words, text) == frozenset(words)
    assert scan.found("通") == frozenset()
    assert scan.found("") == frozenset()


def test_same_as_substring_test_on_random_texts():
    rnd = random.Random(5)
    alphabet = "消防通道堵塞噪音扰民垃圾井盖ab"
    words = {"".join(rnd.choices(alphabet, k=rnd.randint(1, 4))) for _ in range(300)}
    scan = KeywordScanner(words)
    for _ in range(2_000):
        text = "".join(rnd.choices(alphabet, k=rnd.randint(0, 40)))
        assert scan.found(text) == naive(words, text)


def test_no_words_finds_nothing_and_empty_word_refused():
    assert KeywordScanner([]).found("任何文字") == frozenset()
    with pytest.raises(ValueError, match="empty"):
        KeywordScanner(["火", ""])
