"""From fiches to searchable indexes: chunking (``chunking``), embedders behind one
registry (``embeddings``), the Chroma vector store (``store``, ``chroma``, ``fiche_store``),
the French BM25 index (``lexical``), crash-safe incremental indexing (``indexing``,
``runs``, ``files``) and the server mode's published index, lease and replicas
(``server_indexing``, ``meta``, ``lease``, ``replica``). Imports ``catalogue`` at most."""
