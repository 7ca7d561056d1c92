"""Finding passages: metadata filters and the places a question names (``filters``),
query expansion (``expansion``), fusion of ranked lists (``fusion``), hybrid retrieval
and the search modes (``retrieval``), and retrieval evaluation on question sets
(``evaluation``). Imports ``index`` and ``catalogue`` at most."""
