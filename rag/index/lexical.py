"""BM25 over chunks with a French analysis: lowercasing, French and English stop words,
PyStemmer French Snowball, accent folding (``préservé`` and ``preserver`` meet).

The index is persisted under ``DATA_DIR/lexical/<fingerprint>`` (fingerprint of the
chunk ids and content hashes), so it is rebuilt only when the corpus changes; it also
keeps the chunks themselves, which the retriever uses to resolve hits and filters.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from rag.index.files import remove_except
from rag.text import LEXICAL_STOP_WORDS as STOP_WORDS
from rag.text import fold_spaced
from rag.types import Chunk

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each build at DEBUG level

_WORD = re.compile(r"\w+")


class Analyzer:
    """Text -> BM25 terms. Thread-safe (a PyStemmer object is not, so it is locked)."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("french")
        self._lock = threading.Lock()

    def terms(self, text: str) -> list[str]:
        """Words minus stop words, stemmed (with their accents), then folded."""
        words = [w for w in _WORD.findall(text.casefold()) if fold_spaced(w) not in STOP_WORDS]
        with self._lock:
            stems = self._stemmer.stemWords(words)
        return [fold_spaced(stem) for stem in stems]

    def terms_of_all(self, texts: Iterable[str]) -> list[list[str]]:
        """:meth:`terms` of many texts, each distinct word analysed once (the analysis is
        word by word): building the index of 10k chunks is 5x faster than text by text."""
        known: dict[str, list[str]] = {}
        result = []
        for text in texts:
            terms: list[str] = []
            for word in _WORD.findall(text.casefold()):
                found = known.get(word)
                if found is None:
                    found = known[word] = self.terms(word)
                terms.extend(found)
            result.append(terms)
        return result


class LexicalIndex:
    """A BM25 index over a fixed list of chunks (read-only once built: thread-safe)."""

    def __init__(self, chunks: list[Chunk], bm25: bm25s.BM25, fingerprint: str) -> None:
        self.chunks = chunks
        self.fingerprint = fingerprint
        self._bm25 = bm25
        self._analyzer = Analyzer()
        self.positions = {chunk.id: i for i, chunk in enumerate(chunks)}
        self._df = np.diff(bm25.scores["indptr"]) if chunks else np.zeros(0, dtype=np.int64)

    def terms(self, text: str) -> list[str]:
        """The BM25 terms of ``text`` (the analysis used for indexing and queries)."""
        return self._analyzer.terms(text)

    def idf(self, term: str) -> float:
        """Inverse document frequency of an analysed term over the chunks (BM25's
        ``log(1 + (N - df + 0.5) / (df + 0.5))``); a term no chunk has gets the highest."""
        token = self._bm25.vocab_dict.get(term) if self.chunks else None
        df = int(self._df[token]) if token is not None and token < len(self._df) else 0
        return float(np.log(1 + (len(self.chunks) - df + 0.5) / (df + 0.5)))

    @classmethod
    def build(cls, chunks: list[Chunk], fingerprint: str) -> LexicalIndex:
        """Index the chunks' ``indexed_text`` (header + text)."""
        analyzer = Analyzer()
        bm25 = bm25s.BM25()
        if chunks:
            bm25.index(analyzer.terms_of_all(c.indexed_text for c in chunks), show_progress=False)
        return cls(chunks, bm25, fingerprint)

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[Chunk, float]]:
        """The ``k`` best chunks with a positive score, restricted to ``mask`` if given."""
        return self.search_weighted(Counter(self._analyzer.terms(query)), k, mask)

    def search_weighted(self, weights: Mapping[str, float], k: int,
                        mask: np.ndarray | None = None) -> list[tuple[Chunk, float]]:
        """:meth:`search` for analysed terms with query weights (expanded queries: a
        synonym or feedback term counts less than the question's own words)."""
        if not weights or not self.chunks:
            return []
        return self.top(self.scores(weights), k, mask)

    def scores(self, weights: Mapping[str, float]) -> np.ndarray:
        """Every chunk's BM25 score: the sum over terms of ``weight ×`` the term's BM25
        score in the chunk (weight = occurrences in the question: plain BM25)."""
        data, indices, indptr = (self._bm25.scores[key] for key in ("data", "indices", "indptr"))
        out = np.zeros(len(self.chunks), dtype=np.float32)
        for term, weight in weights.items():
            token = self._bm25.vocab_dict.get(term)
            if token is None or token + 1 >= len(indptr) or weight == 0:
                continue
            start, end = indptr[token], indptr[token + 1]
            out[indices[start:end]] += np.float32(weight) * data[start:end]
        return out

    def top(self, scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[tuple[Chunk, float]]:
        """The ``k`` best chunks by ``scores`` (one per chunk), positive only, within ``mask``."""
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        if k < 1:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, directory: Path) -> None:
        """Write the index and its chunks into ``directory``, replacing it: built aside,
        then renamed in (readers see the old or the new index, never half of one)."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory.parent))
        try:
            if self.chunks:
                self._bm25.save(str(tmp), show_progress=False)
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as out:
                for chunk in self.chunks:
                    out.write(chunk.model_dump_json() + "\n")
            (tmp / "fingerprint").write_text(self.fingerprint)
            if directory.exists():
                old = directory.with_name(f".old-{tmp.name}")
                os.replace(directory, old)
                os.replace(tmp, directory)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by :meth:`save` (raises on any damage)."""
        fingerprint = (directory / "fingerprint").read_text().strip()
        with open(directory / "chunks.jsonl", encoding="utf-8") as lines:
            chunks = [Chunk.model_construct(**json.loads(line)) for line in lines]
        bm25 = bm25s.BM25.load(str(directory), show_progress=False) if chunks else bm25s.BM25()
        if chunks and bm25.scores["num_docs"] != len(chunks):
            raise ValueError("chunk count and BM25 document count differ")
        return cls(chunks, bm25, fingerprint)


def lexical_dir(data_dir: Path, fingerprint: str) -> Path:
    """Where the index of one corpus state lives."""
    return data_dir / "lexical" / fingerprint[:24]


def load_or_build(data_dir: Path, chunks: list[Chunk], fingerprint: str, fresh: bool = False) -> LexicalIndex:
    """The persisted index for this fingerprint; (re)built and saved when missing, damaged
    or ``fresh`` is asked (``index --rebuild``: the files may be damaged undetectably)."""
    directory = lexical_dir(data_dir, fingerprint)
    if directory.exists() and not fresh:
        try:
            return LexicalIndex.load(directory)
        except Exception as exc:  # damaged files: rebuild them, the chunks are at hand
            log.warning("BM25 index %s unreadable (%s): rebuilding it", directory, exc)
            shutil.rmtree(directory, ignore_errors=True)
    index = LexicalIndex.build(chunks, fingerprint)
    index.save(directory)
    return index


def prune(data_dir: Path, keep: str) -> None:
    """Delete the indexes of other corpus states (and leftovers of interrupted saves)."""
    remove_except(data_dir / "lexical", {lexical_dir(data_dir, keep).name})
