"""Helpers of the conversation-store tests: pipeline answers built by hand (the store
only stores them) and stores on a SQLite file or a PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

from rag.conversations import ConversationStore
from rag.types import Answer, Source


def source(n: int, fiche_id: str, title: str, cited: bool = False, **fields: str) -> Source:
    return Source(n=n, fiche_id=fiche_id, title=title, section="Contexte", text=f"Passage {n} de {title}.",
                  url=f"https://exemple.fr/{fiche_id}", cited=cited, score=0.5, **fields)


def answer(question: str, text: str = "Réponse [1].", *, cited: tuple[str, ...] = ("brest",),
           others: tuple[str, ...] = ("nantes",), abstained: bool = False, error: str | None = None,
           filters: dict[str, str] | None = None, backend: str = "extractive") -> Answer:
    """An answer citing the fiches ``cited`` (numbered first) and also retrieving ``others``."""
    sources = [source(n, fid, f"Fiche {fid}", cited=not abstained)
               for n, fid in enumerate(cited, start=1)]
    sources += [source(n, fid, f"Fiche {fid}") for n, fid in enumerate(others, start=len(sources) + 1)]
    return Answer(question=question, standalone_question=f"{question} (autonome)", answer=text,
                  citations=[s for s in sources if s.cited], sources=sources, abstained=abstained,
                  backend=backend, evidence=f"{len(sources)} passage(s)", error=error, filters=filters or {},
                  notices=["question nettoyée"])


def not_covered(question: str) -> Answer:
    """An « non couvert » answer: no citation, the closest initiatives as sources."""
    return answer(question, "Le catalogue ne couvre pas cette question.", cited=("vendee",), abstained=True)


HOSTILE_ANSWER = ("Voir [x](javascript:alert(1)) <script>alert(2)</script> <img src=x onerror=alert(3)> "
                  ":red[rouge] $x^2$ **important** [1]")
"""A model answer carrying markup: a link, HTML, a Streamlit directive, LaTeX."""


def hostile(question: str = "Piège <b>gras</b> ?") -> Answer:
    """An answer whose text, question and sources carry markup (a ``javascript:`` link
    as the second source's site): what the exports must neutralise."""
    sent = answer(question, HOSTILE_ANSWER, filters={"commune": "<i>Brest</i>"})
    sources = [sent.sources[0].model_copy(update={"title": "Fiche *brest* <script>x</script>"}),
               sent.sources[1].model_copy(update={"url": "javascript:alert(4)"})]
    return sent.model_copy(update={"sources": sources, "citations": sources[:1]})


def sqlite_store(folder: Path, **options: float) -> ConversationStore:
    return ConversationStore(f"sqlite:///{folder / 'app.db'}", **options)


def add_turns(url: str, conversation_id: str, worker: int, count: int, start: object) -> None:
    """A writer process or thread: ``count`` turns "w<worker>-<i>" on one conversation,
    through its own store, after waiting at the ``start`` barrier."""
    store = ConversationStore(url, busy_timeout=60)
    start.wait()  # type: ignore[attr-defined]
    for i in range(count):
        store.add_turn(conversation_id, "local", answer(f"w{worker}-{i}"))
    store.close()


def open_with_legacy(url: str, legacy: str, start: object) -> None:
    """A process starting the app on a fresh database with an old feedback file."""
    store = ConversationStore(url, legacy_feedback=Path(legacy), busy_timeout=60)
    start.wait()  # type: ignore[attr-defined]
    store.list_conversations("local")
    store.close()
