"""Sentence-level evidence: the quotable sentences of the retrieved passages, their
content terms, and how well each answers the question.

Shared by the extractive backend (which sentences and initiatives to quote) and the
abstention (is the best quote really about the question?). A sentence's evidence has
three parts, each in [0, 1]:

* **coverage**: the share of the question's terms it contains, each weighted by its
  rarity among the candidate sentences ("accueil", everywhere, counts little), so a
  sentence holding all the key terms beats one sharing a single word;
* **similarity**: the embedder's cosine between the question and the sentence (a close
  paraphrase, or the same idea in English, shares no word but stays close);
* **rank**: the retriever's own view of its passage (fused and dense scores, relative
  to the best passage), which saw the whole passage and its heading.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable

import numpy as np
import Stemmer

from rag.index.embeddings import Embedder
from rag.text import EXTRACTIVE_STOP_WORDS as STOP_WORDS
from rag.text import fold
from rag.types import Passage, Sentence

SENTENCE_CHARS = 320
"""How long a quoted sentence may be (longer ones are cut with « … »)."""
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"“(0-9A-ZÀ-Ý])")
_BULLET = re.compile(r"^[\s\-–—•*#>]+")
_TAG = re.compile(r"<[^>]{0,200}>")
_CITATION_LIKE = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"\w+")
_local = threading.local()


def terms(text: str) -> set[str]:
    """The content terms of a text: stop words removed, stemmed, accent-folded."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:  # a Stemmer object is not thread-safe: one per thread
        stemmer = _local.stemmer = Stemmer.Stemmer("french")
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 and fold(w) not in STOP_WORDS]
    return {fold(stem) for stem in stemmer.stemWords(words)}


def clean(sentence: str, max_chars: int) -> str:
    """A sentence safe to quote: no markup, no bullet, no "[n]"-like text, bounded length."""
    text = _CITATION_LIKE.sub(r"(\1)", _TAG.sub(" ", sentence))
    text = " ".join(_BULLET.sub("", text).split()).strip(" \"'")
    if len(text) > max_chars:
        text = text[: max_chars - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
    return text


def _lines(text: str) -> list[str]:
    """The text's lines, a line that announces what follows (ending with « : » or « = »,
    « Design de service = », « … sont les suivants : ») joined to the next one: quoted
    alone it says nothing."""
    lines: list[str] = []
    for line in text.splitlines():
        if lines and lines[-1].rstrip().endswith((":", "=")) and line.strip():
            lines[-1] = f"{lines[-1].rstrip()} {_BULLET.sub('', line)}"
        else:
            lines.append(line)
    return lines


def split_sentences(passage: Passage, max_chars: int) -> list[Sentence]:
    """The quotable sentences (3 words or more) of a passage, in order."""
    found: list[Sentence] = []
    for line in _lines(passage.chunk.text):
        for raw in _SENTENCE_END.split(line):
            text = clean(raw, max_chars)
            if len(text.split()) >= 3:
                found.append(Sentence(passage, len(found), text, terms(text)))
    return found


def split_passages(passages: Iterable[Passage], max_chars: int) -> dict[int, list[Sentence]]:
    """Passage number -> its quotable sentences (:func:`split_sentences`), in passage order."""
    return {p.n: split_sentences(p, max_chars) for p in passages}


def term_weights(question: set[str], sentences: list[Sentence]) -> dict[str, float]:
    """Question term -> its rarity among the candidate sentences (absent terms: none)."""
    df = {t: sum(t in s.terms for s in sentences) for t in question}
    return {t: math.log(1 + len(sentences) / n) for t, n in df.items() if n}


def score_sentences(question: set[str], sentences: list[Sentence], similarity: dict[str, float]) -> None:
    """Fill each sentence's coverage, similarity, rank and ``score`` (their sum, see the
    module doc). ``similarity``: sentence text -> cosine with the question (may be empty)."""
    weight = term_weights(question, sentences)
    total = sum(weight.values())
    best_fused = max((s.passage.score for s in sentences), default=0.0)
    best_dense = max((s.passage.dense or 0.0 for s in sentences), default=0.0)
    for sentence in sentences:
        found = sum(w for t, w in weight.items() if t in sentence.terms)
        sentence.coverage = found / total if total else 0.0
        sentence.similarity = max(0.0, similarity.get(sentence.text, 0.0))
        fused = sentence.passage.score / best_fused if best_fused > 0 else 1.0
        dense = (sentence.passage.dense or 0.0) / best_dense if best_dense > 0 else 0.0
        sentence.rank = (fused + dense) / 2
        sentence.score = sentence.coverage + sentence.similarity + 2 * sentence.rank


def sentence_similarity(embedder: Embedder, question: str, texts: Iterable[str]) -> dict[str, float]:
    """Sentence text -> cosine of its vector with the question's (one batch)."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}
    vectors = embedder.embed_documents(unique)
    cosines = vectors @ np.asarray(embedder.embed_query(question))
    return {text: float(c) for text, c in zip(unique, cosines, strict=True)}
