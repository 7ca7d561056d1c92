"""Per-sentence support: does passage ``n`` back up the sentence that cites ``[n]``?

A verified ``[n]`` only says passage ``n`` was given, not that it says what the sentence
claims. After the answer is complete, each sentence carrying citations is checked
against each passage it cites:

* term overlap: the share of the sentence's content words (folded, stop words of
  :mod:`rag.text` dropped, plural ``s``/``x`` and endings past 6 letters ignored) found
  in the passage (its title, section and text). A quote or a close paraphrase shares
  most of them; a sentence pinned on the wrong passage shares few.
* embedder similarity, when one is given: a paraphrase in other words (or another
  language) shares few terms but stays close in meaning.

A pair is supported when the overlap reaches :data:`OVERLAP_SUPPORTED`, or the similarity
reaches :data:`SIMILARITY_SUPPORTED` (computed only for the pairs the overlap leaves in doubt).
Sentences with fewer than :data:`MIN_TERMS` content words (« Oui [1]. ») are not
judged. The thresholds are measured by ``bench/eval_support.py``: 0 flag on the
extractive answers (verbatim quotes), most flags on citations moved to another retrieved
passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from rag.index.embeddings import Embedder
from rag.text import EXTRACTIVE_STOP_WORDS, fold
from rag.types import Passage, Unsupported

Similarity = Callable[[list[str], list[str]], list[float]]
"""Cosine similarity of each pair ``(a[i], b[i])``."""

OVERLAP_SUPPORTED = 0.5
SIMILARITY_SUPPORTED = 0.5
MIN_TERMS = 3

_END = re.compile(r"[.!?…]+(?:[ \t]*\[\d{1,3}\])*(?=\s|$)")
_CITE = re.compile(r"\[(\d{1,3})\]")
_MARKUP = re.compile(r"[*_`#>]+|^\s*(?:[-•]|\d+[.)])\s+")
_WORD = re.compile(r"\w+")


def sentences(text: str) -> Iterator[str]:
    """The sentences of ``text``, each with the citations written after its full stop
    (« … guichets. [1] ») or before it (« … guichets [1]. »); a line is never joined to the next."""
    for line in text.splitlines():
        start = 0
        for end in _END.finditer(line):
            if line[start:end.end()].strip():
                yield line[start:end.end()].strip()
            start = end.end()
        if line[start:].strip():
            yield line[start:].strip()


def terms(text: str) -> set[str]:
    """Content words, folded and cut to a short stem (``agents`` ~ ``agent``)."""
    found = set()
    for word in _WORD.findall(fold(text)):
        if len(word) < 3 or word.isdigit() or word in EXTRACTIVE_STOP_WORDS:
            continue
        stem = word[:-1] if word.endswith(("s", "x")) and len(word) > 4 else word
        found.add(stem[:6])
    return found


def claim(sentence: str) -> str:
    """The sentence without its citations and Markdown (``**Titre** : …``, list bullets)."""
    return " ".join(_MARKUP.sub(" ", _CITE.sub(" ", sentence)).split())


def embedder_similarity(embedder: Embedder) -> Similarity:
    """:data:`Similarity` from an embedder's unit vectors (one batch per side)."""
    def similarity(left: list[str], right: list[str]) -> list[float]:
        a, b = embedder.embed_documents(left), embedder.embed_documents(right)
        return [float(x) for x in np.einsum("ij,ij->i", a, b)]

    return similarity


def passage_text(passage: Passage) -> str:
    """What a citation of the passage may rest on: its ``Titre › Section`` and text."""
    return passage.chunk.indexed_text


def unsupported(text: str, passages: Sequence[Passage], similarity: Similarity | None = None) -> list[Unsupported]:
    """The ``(sentence, n)`` pairs of ``text`` where passage ``n`` does not back up the sentence."""
    by_number = {p.n: p for p in passages}
    doubtful: list[tuple[str, int, str]] = []  # (sentence, n, claim) left to the embedder
    found: list[Unsupported] = []
    for sentence in sentences(text):
        said = claim(sentence)
        wanted = terms(said)
        if len(wanted) < MIN_TERMS:
            continue
        for n in dict.fromkeys(int(x) for x in _CITE.findall(sentence)):
            if n not in by_number:
                continue
            overlap = len(wanted & terms(passage_text(by_number[n]))) / len(wanted)
            if overlap >= OVERLAP_SUPPORTED:
                continue
            if similarity is None:
                found.append(Unsupported(sentence=sentence, n=n))
            else:
                doubtful.append((sentence, n, said))
    if doubtful and similarity is not None:
        scores = similarity([said for _, _, said in doubtful], [passage_text(by_number[n]) for _, n, _ in doubtful])
        found += [Unsupported(sentence=s, n=n) for (s, n, _), score in zip(doubtful, scores, strict=True)
                  if score < SIMILARITY_SUPPORTED]
    order = {(item.sentence, item.n): i for i, item in enumerate(found)}
    return sorted(found, key=lambda item: (text.find(item.sentence), order[(item.sentence, item.n)]))


def describe(item: Unsupported) -> str:
    """« phrase » — non étayé par [n] (how the UI and the CLI mark it)."""
    return f"« {item.sentence} » — non étayé par [{item.n}]"
