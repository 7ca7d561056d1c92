"""The shared data types: what a chunk's id tells, how a source is named."""

from __future__ import annotations

from rag.types import Chunk, Source


def test_a_chunk_knows_which_piece_of_its_section_it_is() -> None:
    def chunk(chunk_id: str) -> Chunk:
        return Chunk(id=chunk_id, fiche_id="f", title="T", section="Enjeux", text="x")

    assert [chunk(i).part for i in ("f::enjeux::0", "f::enjeux::2", "sans-partie", "f::enjeux::x")] == [0, 2, 0, 0]


def test_a_later_piece_of_a_section_is_named_as_such() -> None:
    first = Source(n=1, fiche_id="f", title="Accueil à Brest", section="Méthodologie", text="a", url="")
    third = first.model_copy(update={"n": 2, "part": 2})
    assert first.heading == "[1] Accueil à Brest › Méthodologie"
    assert third.heading == "[2] Accueil à Brest › Méthodologie (partie 3)"
    stored_before = {k: v for k, v in first.model_dump().items() if k != "part"}  # a turn stored earlier
    assert Source.model_validate(stored_before).heading == first.heading
