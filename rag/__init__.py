"""Assistant over a catalogue of public-service reception initiatives ("fiches").

Packages, lowest layer first (a package imports only those above it in this list;
``lint-imports`` checks it, see ``pyproject.toml``):

- root modules, used by all: ``errors`` (the exception tree), ``config`` (settings),
  ``types`` (Chunk, Hit, Passage, GenerationRequest, Source, Answer), ``text`` (folding,
  word lists, question cleaning), ``tokens`` (tiktoken, offline).
- ``catalogue``: the fiche model, the Catalogue and its place names; raw export -> clean
  Markdown fiches (import, cleaning, spam deny-list), fiche files <-> fiches.
- ``index``: fiches -> chunks, embedders (registry), the Chroma vector store, the BM25
  index, crash-safe incremental indexing, server-mode replicas.
- ``search``: filters, fusion, hybrid retrieval (the search modes), retrieval evaluation.
- ``answer``: the answering pipeline (``ask``): follow-ups, abstention, prompts,
  citations, sources, and the answer backends (registry: extractive, openai, ollama).
- ``conversations``: conversations and feedback in a SQL database.
- ``services``: the composition root, owner of every long-lived object and cache.
- ``ui`` (Streamlit, the only package importing it), ``api`` (HTTP and MCP servers),
  ``cli`` (``python -m rag``): the entry points.
"""

__version__ = "0.1.0"
