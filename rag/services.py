"""The long-lived objects of a process, created lazily and shared across threads: the
embedder (a model load), the vector store, the BM25 index, the retriever, the fiches
and the LLM backends. The Streamlit app keeps one :class:`Services` in
``st.cache_resource``; the CLI makes one per run, so the model loads once per process.

It is the composition root: every cache of the process lives here, so nothing is
hidden in module globals. Index objects (store handle, BM25, retriever, catalogue and
what is derived from it) are dropped together when the index changes; editable files
(prompts, deny-list) are re-read when their modification time changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from rag.answer.abstention import profile
from rag.answer.prompting import Prompts, load_prompts, prompt_paths
from rag.catalogue.catalogue import Catalogue
from rag.catalogue.fiche import Fiche
from rag.catalogue.spam import load_denylist
from rag.config import Settings, get_settings
from rag.errors import IndexUnavailable
from rag.index.chroma import release_embedded
from rag.index.indexing import IndexReport, index_corpus, manifest_path, read_manifest
from rag.index.lexical import Analyzer, LexicalIndex
from rag.index.replica import LiveIndex, ServerIndex, load_server_index, no_index
from rag.index.store import VectorStore
from rag.search.expansion import Thesaurus, load_thesaurus
from rag.tokens import count_tokens

if TYPE_CHECKING:
    from rag.answer.backends.base import Backend
    from rag.answer.backends.http import HttpBackend
    from rag.conversations import ConversationStore
    from rag.index.embeddings import Embedder
    from rag.search.retrieval import Retriever

T = TypeVar("T")


class _Served(NamedTuple):
    """Server mode: what this process serves from one published index run."""

    loaded: ServerIndex
    retriever: Retriever
    catalogue: Catalogue


class Services:
    """Lazy, thread-safe holder. Every attribute is built once, under one lock."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._lock = threading.RLock()
        self._cache: dict[str, object] = {}
        self._backends: dict[tuple, Backend] = {}
        self._windows: dict[tuple, HttpBackend] = {}  # the first backend of each window (see backend)
        self._files: dict[str, tuple[tuple, object]] = {}
        self._files_lock = threading.Lock()  # per-query reads never wait on a model load
        self._stamp: int | None = None  # manifest mtime when the index objects were loaded

    def _get(self, name: str, build: Callable[[], T]) -> T:
        """The cached value of ``name``, built on first use (double-checked locking)."""
        value = self._cache.get(name)
        if value is None:
            with self._lock:
                value = self._cache.get(name)
                if value is None:
                    value = self._cache[name] = build()
        return cast(T, value)

    @property
    def embedder(self) -> Embedder:
        from rag.index.embeddings import embedder_from_settings

        return self._get("embedder", lambda: embedder_from_settings(self.settings))

    @property
    def store(self) -> VectorStore:
        if self.settings.chroma_url:
            return self._served().loaded.store
        return self._get("store", lambda: VectorStore(self.settings))

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index of the last completed indexing run."""
        if self.settings.chroma_url:
            return self._served().loaded.lexical
        return self._get("lexical", self._load_lexical)

    def _load_lexical(self) -> LexicalIndex:
        manifest = read_manifest(self.settings.data_dir)
        if not manifest:
            raise IndexUnavailable(f"aucun index complet dans {self.settings.data_dir} : lancez `python -m rag index`")
        try:
            return LexicalIndex.load(Path(manifest["lexical"]))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexUnavailable(f"index BM25 illisible ({exc}) : lancez `python -m rag index --rebuild`") from None

    @property
    def retriever(self) -> Retriever:
        """The retriever over the last completed index; reloaded when another process
        (``python -m rag index`` next to a running app) completed a newer one."""
        from rag.search.retrieval import Retriever

        if self.settings.chroma_url:
            return self._served().retriever
        self._reload_if_reindexed()

        def build() -> Retriever:
            self.store.open(self.embedder.config())
            return Retriever(self.store, self.lexical, self.embedder, self.settings, thesaurus=self.thesaurus)

        return self._get("retriever", build)

    def _served(self) -> _Served:
        """Server mode: the index published on the Chroma server, reloaded when another
        process (any machine) publishes a new run (:mod:`rag.index.replica`)."""
        return self._live().get()

    def _live(self) -> LiveIndex[_Served]:
        """Server mode: the published index as this process follows it."""
        return self._get("live", lambda: LiveIndex(VectorStore(self.settings).meta(), self._serve,
                                                   self.settings.index_check_seconds))

    def _serve(self, record: dict[str, Any]) -> _Served:
        from rag.search.retrieval import Retriever

        index = load_server_index(self.settings, record, self.embedder.config())
        retriever = Retriever(index.store, index.lexical, self.embedder, self.settings, thesaurus=self.thesaurus)
        return _Served(index, retriever, self._catalogue(index.fiches))

    def _reload_if_reindexed(self) -> None:
        """Embedded mode: drop the index objects when the manifest changed since they were
        loaded (server mode reloads through :mod:`rag.index.replica`). An embedded Chroma
        client does not see another process's writes, so its cached database handle is
        released too (in-flight queries finish on the old one)."""
        try:
            stamp = manifest_path(self.settings.data_dir).stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        with self._lock:
            # a store whose opening failed (damaged folder) is dropped too: a rebuild by
            # another process moves the index to a new folder
            loaded = "retriever" in self._cache or (self._stamp is not None and "store" in self._cache)
            if stamp != self._stamp and loaded:
                for name in ("store", "lexical", "retriever", "fiches"):
                    self._cache.pop(name, None)
                release_embedded()
            self._stamp = stamp

    @property
    def fiches(self) -> Catalogue:
        """The catalogue, id -> fiche (malformed files skipped, as when indexing); in
        server mode, the fiches of the published index."""
        if self.settings.chroma_url:
            return self._served().catalogue
        from rag.catalogue.corpus import load_corpus

        return self._get("fiches", lambda: self._catalogue(load_corpus(self.settings.corpus_dir).fiches))

    def _catalogue(self, fiches: list[Fiche]) -> Catalogue:
        """The catalogue of ``fiches``, with the place table of the settings."""
        from rag.catalogue.places import places_or_empty

        return Catalogue(fiches, places_or_empty(self.settings.places_path))

    @property
    def conversations(self) -> ConversationStore:
        """The conversations database (``RAG_DATABASE_URL``); opened and migrated on first
        use, so a database that is down fails the calls, not the process."""
        from rag.conversations import ConversationStore

        return self._get("conversations", lambda: ConversationStore.from_settings(self.settings))

    def _by_mtime(self, name: str, paths: list[Path], load: Callable[[], T]) -> T:
        """``load()``, cached until one of ``paths`` changes (edits apply without restart)."""
        stamp = tuple(path.stat().st_mtime_ns if path.exists() else None for path in paths)
        with self._files_lock:
            cached = self._files.get(name)
            if cached is None or cached[0] != stamp:
                cached = self._files[name] = (stamp, load())
            return cached[1]  # type: ignore[return-value]

    def prompts(self) -> Prompts:
        """The prompt templates of ``prompts/`` (a bad template raises ``ConfigError``)."""
        folder = self.settings.prompts_dir
        return self._by_mtime("prompts", prompt_paths(folder), lambda: load_prompts(folder))

    def spam_patterns(self) -> list[str]:
        """The deny-list patterns (``corpus/denylist.txt``)."""
        path = self.settings.denylist_path
        return self._by_mtime("denylist", [path], lambda: load_denylist(path))

    def thesaurus(self) -> Thesaurus:
        """The BM25 query-expansion thesaurus (``corpus/synonyms.txt``; a bad line raises
        ``ConfigError``), re-read when the file changes."""
        path = self.settings.synonyms_path
        return self._by_mtime("synonyms", [path], lambda: load_thesaurus(path, Analyzer().terms))

    def ensure_index(self, progress_cb: Callable[[int, int], None] | None = None) -> IndexReport | None:
        """Index the corpus if it is missing or changed; None when it was already current.
        Afterwards the BM25 index, retriever and fiches are reloaded. In server mode the
        index is a job (``python -m rag index``): only an empty server is indexed here."""
        if self.settings.chroma_url:
            return self._ensure_server_index(progress_cb)
        with self._lock:
            report = index_corpus(self.settings, embedder=self.embedder, store=self.store, on_progress=progress_cb)
            if report.added or report.updated or report.removed:
                for name in ("lexical", "retriever", "fiches"):
                    self._cache.pop(name, None)
                return report
            return None

    def _ensure_server_index(self, progress_cb: Callable[[int, int], None] | None) -> IndexReport | None:
        """Index an empty server from the corpus folder, if there is one; else check that
        an index is published (a replica needs no corpus). The record read is handed to
        the first load, which then does not read it again."""
        live = self._live()
        record = live.meta.record()
        if record:
            live.offer(record)
            return None
        if not any(self.settings.corpus_dir.glob("*.md")):
            raise no_index(live.meta)
        return index_corpus(self.settings, embedder=self.embedder, on_progress=progress_cb)

    def preload(self) -> None:
        """Load what every answer uses, so that the first question is answered as fast as
        the next ones: the embedding model, the index, the prompts, the tokenizer and the
        catalogue's abstention profile (about 2 s with ``use``, cached in the catalogue).
        The API, the MCP server and the chat call it at start-up."""
        embedder = self.retriever.embedder
        embedder.embed_query("accueil")
        self.prompts()
        count_tokens("accueil")
        profile(self.fiches, embedder)

    def backend(self, name: str | None = None, **overrides: object) -> Backend:
        """The LLM backend ``name`` (default: settings), one instance per name+overrides.
        Instances of the same engine, server, model and window setting share one context
        window (:mod:`rag.answer.backends.window`): what a refusal taught survives a change
        of temperature, which makes another instance."""
        from rag.answer.backends import create_backend
        from rag.answer.backends.http import HttpBackend

        name = name or self.settings.backend
        key = (name, tuple(sorted((k, repr(v)) for k, v in overrides.items())))
        with self._lock:
            if key not in self._backends:
                created = create_backend(name, self.settings, **overrides)
                if isinstance(created, HttpBackend):  # one window per engine, server and model
                    created.share_window(self._windows.setdefault(_window_key(created), created))
                self._backends[key] = created
            return self._backends[key]


def _window_key(engine: HttpBackend) -> tuple:
    """What decides a backend's context window: the engine, its server and model, the
    window setting and the key the server is asked with."""
    options = engine.options
    return engine.name, options.base_url, options.model, options.context_window, options.secret()
