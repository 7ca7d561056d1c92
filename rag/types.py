"""The data types shared across layers, defined once: what the index stores (:class:`Chunk`),
what search returns (:class:`Hit`), what a backend is given (:class:`Passage`, its quotable
:class:`Sentence`, :class:`GenerationRequest`) and what an answer carries (:class:`Source`, :class:`Answer`).
Plain data only: no I/O, no imports from the layers above."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import BaseModel, Field


def chunk_header(title: str, section: str) -> str:
    """The context header "Titre › Section" put before a chunk's text."""
    return f"{title} › {section}"


class Chunk(BaseModel):
    """One indexed passage. ``metadata`` is flat (str values) so Chroma can filter on it:
    keys ``ville``, ``echelle``, ``type_acteur``, ``partenaires`` (values joined by " | "),
    ``acteur``, ``lien``, and the place ``commune``, ``departement``, ``region``."""

    id: str  # "<fiche_id>::<section slug>::<part>" stable across re-imports
    fiche_id: str
    title: str
    section: str
    text: str
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def header(self) -> str:
        """The context header "Titre › Section" embedded and indexed with the text."""
        return chunk_header(self.title, self.section)

    @property
    def part(self) -> int:
        """Which piece of its section this chunk is (0 = the first, or the only one), from the id."""
        _, sep, suffix = self.id.rpartition("::")
        return int(suffix) if sep and suffix.isdigit() else 0

    @property
    def indexed_text(self) -> str:
        """What is embedded and BM25-indexed: header then text."""
        return f"{self.header}\n{self.text}"

    @property
    def content_hash(self) -> str:
        """Key for incremental indexing: changes whenever anything indexed changes."""
        payload = "\x1f".join([self.indexed_text, *sorted(f"{k}={v}" for k, v in self.metadata.items())])
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk. ``score`` orders hits (fused score in hybrid mode, cosine in
    dense mode, BM25 in bm25 mode); ``dense``/``lexical`` keep each side's own score."""

    chunk: Chunk
    score: float
    dense: float | None = None
    lexical: float | None = None


class Passage(BaseModel):
    """A numbered passage given to the backend: ``[n] Titre › Section``."""

    n: int
    chunk: Chunk
    score: float = 0.0
    dense: float | None = None
    """The chunk's dense cosine with the question, when retrieval computed one."""

    @property
    def label(self) -> str:
        return f"[{self.n}] {self.chunk.header}"


@dataclass
class Sentence:
    """A quotable sentence of a passage, its content terms and its evidence (filled by
    ``rag.answer.evidence.score_sentences``)."""

    passage: Passage
    position: int
    text: str
    terms: set[str]
    coverage: float = 0.0
    similarity: float = 0.0
    rank: float = 0.0
    score: float = 0.0


class GenerationRequest(BaseModel):
    """Everything a backend may use. LLM backends read ``messages`` (built from
    ``prompts/``); the extractive backend reads ``question`` and ``passages``."""

    question: str
    passages: list[Passage]
    messages: list[dict[str, str]] = Field(default_factory=list)
    filters: dict[str, str] = Field(default_factory=dict)
    """The filters the passages were restricted to ("region": "Bretagne")."""
    similarity: dict[str, float] = Field(default_factory=dict)
    """Embedder cosine of the question with sentences of the passages (by sentence text),
    when the pipeline computed it: the extractive backend's semantic evidence."""
    sentences: dict[int, list[Sentence]] = Field(default_factory=dict)
    """The quotable sentences of each passage (by passage number, split at the backend's
    ``max_sentence_chars``), when the pipeline split them for ``similarity``: the
    extractive backend scores these instead of splitting the passages again."""
    max_tokens: int | None = None  # the answer budget the prompt was built for (None: the backend's option)
    context_window: int | None = None  # the window the prompt was built for (Ollama's num_ctx)


class Source(BaseModel):
    """A retrieved passage as shown to the user; ``n`` is its number in the answer."""

    n: int
    fiche_id: str
    title: str
    section: str
    text: str
    url: str
    ville: str = ""
    echelle: str = ""
    acteur: str = ""
    type_acteur: str = ""
    score: float = 0.0
    cited: bool = False
    part: int = 0  # piece of a long section split in several chunks (0: the first)

    @property
    def heading(self) -> str:
        """``[n] Titre › Section`` (plain text): how a source is named in the CLI, the UI and
        the exports; a later piece of a long section says so (« (partie 2) »), so two
        passages of one section never look like a duplicate."""
        piece = f" (partie {self.part + 1})" if self.part else ""
        return f"[{self.n}] {self.title} › {self.section}{piece}"


class Unsupported(BaseModel):
    """A sentence of the answer that its citation ``[n]`` does not back up."""

    sentence: str
    n: int


class Answer(BaseModel):
    """The final result of one question."""

    question: str
    standalone_question: str
    answer: str
    citations: list[Source]
    sources: list[Source]
    abstained: bool
    backend: str
    evidence: str
    error: str | None = None
    removed_citations: list[int] = Field(default_factory=list)
    unsupported: list[Unsupported] = Field(default_factory=list)  # see rag.answer.support
    filters: dict[str, str] = Field(default_factory=dict)
    notices: list[str] = Field(default_factory=list)
