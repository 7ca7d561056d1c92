"""Assistant over a catalogue of public-service reception initiatives ("fiches").

Modules, by role:

- ``fiche``: the fiche model (sections, metadata fields).
- ``importer`` / ``cleaning`` / ``denylist``: raw export -> clean fiches.
- ``corpus``: fiche <-> Markdown files; loading the corpus directory.
- ``tokens``: tiktoken, offline.
- ``chunking``: fiche -> section chunks.
- ``embeddings``: embedder protocol and registry.
- ``store``: the Chroma vector store; ``lexical``: the French BM25 index.
- ``indexing``: incremental, crash-safe (re)indexing.
- ``retrieval``: hybrid search, fusion, diversification, filters.
- ``prompting``: prompt templates from ``prompts/`` and the token budget.
- ``backends``: LLM backends (extractive, openai, ollama) and their registry.
- ``citations``: checks the ``[n]`` of an answer against the passages given.
- ``pipeline``: the one answering function shared by the UI and the CLI.
- ``config``: settings; ``errors``: the exception tree; ``cli``: ``python -m rag``.
"""

__version__ = "0.1.0"
