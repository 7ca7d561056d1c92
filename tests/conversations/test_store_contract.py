"""The ConversationStore contract, run unchanged against SQLite and a real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from rag.conversations import REASONS, ConversationStore, Timings
from rag.conversations.models import NO_INITIATIVE, NO_REASON, NOT_COVERED_LABEL
from rag.conversations.schema import metadata
from rag.errors import ConversationNotFound, InputError
from tests.support.conversations import answer, not_covered

ALICE, BOB = "oidc:https://id.example|alice", "oidc:https://id.example|bob"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConversationStore]:
    url = f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" \
        else request.getfixturevalue("postgres_database")
    opened = ConversationStore(url)
    yield opened
    opened.close()


class TestConversations:
    def test_create_list_newest_first_titled_by_first_question(self, store: ConversationStore) -> None:
        first = store.create_conversation(ALICE)
        second = store.create_conversation(ALICE, title="Ma recherche")
        assert first.title == "Nouvelle conversation" and first.turn_count == 0 and second.title == "Ma recherche"
        assert [c.id for c in store.list_conversations(ALICE)] == [second.id, first.id]
        store.add_turn(first.id, ALICE, answer("Comment accueillir les usagers à Brest ?"))
        listed = store.list_conversations(ALICE)
        assert [c.id for c in listed] == [first.id, second.id]  # updated by the new turn
        assert listed[0].title == "Comment accueillir les usagers à Brest ?" and listed[0].turn_count == 1
        assert listed[0].updated_at > listed[0].created_at and listed[0].updated_at.tzinfo is not None
        store.add_turn(first.id, ALICE, answer("et à Nantes ?"))
        assert store.list_conversations(ALICE)[0].title == "Comment accueillir les usagers à Brest ?"

    def test_long_question_title_is_cut_at_a_word(self, store: ConversationStore) -> None:
        conv = store.create_conversation(ALICE)
        store.add_turn(conv.id, ALICE, answer("Quelles initiatives " + "d'accueil très innovantes " * 10))
        title = store.get_conversation(conv.id, ALICE).title
        assert len(title) <= 81 and title.endswith("…") and "  " not in title

    def test_search_title_and_questions_ignoring_accents_and_case(self, store: ConversationStore) -> None:
        brest = store.create_conversation(ALICE)
        store.add_turn(brest.id, ALICE, answer("Accueil à Brest"))
        store.add_turn(brest.id, ALICE, answer("et la médiation numérique ?"))
        renamed = store.create_conversation(ALICE, title="Préfecture 100%")
        store.create_conversation(ALICE, title="Autre")
        assert [c.id for c in store.list_conversations(ALICE, search="MEDIATION")] == [brest.id]
        assert [c.id for c in store.list_conversations(ALICE, search="prefecture")] == [renamed.id]
        assert [c.id for c in store.list_conversations(ALICE, search="100%")] == [renamed.id]
        assert store.list_conversations(ALICE, search="%") == [renamed]  # a literal %, not a wildcard
        assert store.list_conversations(ALICE, search="Lille") == []
        store.rename_conversation(brest.id, ALICE, "Dossier Finistère")
        assert [c.id for c in store.list_conversations(ALICE, search="finistere")] == [brest.id]
        assert [c.id for c in store.list_conversations(ALICE, search="numérique")] == [brest.id]  # questions kept

    def test_get_returns_turns_in_order_and_answers_round_trip(self, store: ConversationStore) -> None:
        conv = store.create_conversation(ALICE)
        first = answer("Initiatives à Brest ?", filters={"ville": "Brest"})
        store.add_turn(conv.id, ALICE, first, Timings(first_token_ms=120.5, total_ms=900.0), "qwen2.5",
                       inferred={"ville": "Brest"})
        store.add_turn(conv.id, ALICE, not_covered("Et les cartes grises ?"))
        got = store.get_conversation(conv.id, ALICE)
        assert [t.position for t in got.turns] == [0, 1] and got.turn_count == 2
        turn = got.turns[0]
        assert turn.to_answer() == first  # every field the pipeline returned comes back
        assert turn.model == "qwen2.5" and turn.timings == Timings(first_token_ms=120.5, total_ms=900.0)
        assert turn.inferred_filters == {"ville": "Brest"} and turn.cited_numbers == [1]
        assert [s.fiche_id for s in turn.citations] == ["brest"] and turn.feedback is None
        assert got.turns[1].abstained and got.turns[1].citations == []
        assert store.history(conv.id, ALICE) == [
            ("Initiatives à Brest ?", "Réponse [1]."),
            ("Et les cartes grises ?", "Le catalogue ne couvre pas cette question."),
        ]

    def test_rename_and_bad_titles(self, store: ConversationStore) -> None:
        conv = store.create_conversation(ALICE)
        assert store.rename_conversation(conv.id, ALICE, "  Suivi   Vendée ").title == "Suivi Vendée"
        assert store.get_conversation(conv.id, ALICE).title == "Suivi Vendée"
        store.add_turn(conv.id, ALICE, answer("Question posée après le renommage"))
        assert store.get_conversation(conv.id, ALICE).title == "Suivi Vendée"  # a chosen title stays
        for bad in ("", "   ", "x" * 201):
            with pytest.raises(InputError, match="titre"):
                store.rename_conversation(conv.id, ALICE, bad)

    def test_delete_removes_turns_and_feedback(self, store: ConversationStore) -> None:
        conv, kept = store.create_conversation(ALICE), store.create_conversation(ALICE)
        turn = store.add_turn(conv.id, ALICE, answer("Q"))
        other = store.add_turn(kept.id, ALICE, answer("Q2"))
        store.add_feedback(turn.id, ALICE, "down", ["Incomplet"])
        store.add_feedback(other.id, ALICE, "up")
        store.delete_conversation(conv.id, ALICE)
        with pytest.raises(ConversationNotFound, match="introuvable"):
            store.get_conversation(conv.id, ALICE)
        assert [f.turn_id for f in store.list_feedback(ALICE)] == [other.id]
        assert [c.id for c in store.list_conversations(ALICE)] == [kept.id]
        with store.engine.connect() as conn:  # no orphan row left behind (the foreign keys cascade)
            for table in ("turns", "feedback"):
                left = conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE conversation_id = '{conv.id}'")
                assert left.scalar_one() == 0, table
        with pytest.raises(ConversationNotFound):
            store.delete_conversation(conv.id, ALICE)

    def test_unknown_ids_are_not_found(self, store: ConversationStore) -> None:
        for call in (lambda: store.get_conversation("nope", ALICE), lambda: store.history("x" * 500, ALICE),
                     lambda: store.add_turn("nope", ALICE, answer("Q")),
                     lambda: store.add_feedback("nope", ALICE, "up")):
            with pytest.raises(ConversationNotFound):
                call()


class TestIdentity:
    def test_a_user_sees_only_their_conversations(self, store: ConversationStore) -> None:
        mine = store.create_conversation(ALICE)
        turn = store.add_turn(mine.id, ALICE, answer("Question d'Alice"))
        theirs = store.create_conversation(BOB)
        store.add_turn(theirs.id, BOB, answer("Question de Bob"))
        assert [c.id for c in store.list_conversations(ALICE)] == [mine.id]
        assert [c.id for c in store.list_conversations(BOB, search="alice")] == []
        forbidden = [
            lambda: store.get_conversation(mine.id, BOB), lambda: store.history(mine.id, BOB),
            lambda: store.rename_conversation(mine.id, BOB, "volé"), lambda: store.delete_conversation(mine.id, BOB),
            lambda: store.add_turn(mine.id, BOB, answer("intrusion")),
            lambda: store.add_feedback(turn.id, BOB, "down", ["Hors sujet"]),
        ]
        for call in forbidden:
            with pytest.raises(ConversationNotFound):
                call()
        conv = store.get_conversation(mine.id, ALICE)  # untouched by Bob's attempts
        assert conv.title == "Question d'Alice" and conv.turn_count == 1 and conv.turns[0].feedback is None

    def test_check_owned_passes_for_the_owner_only(self, store: ConversationStore) -> None:
        mine = store.create_conversation(ALICE)
        assert store.check_owned(mine.id, ALICE) is None  # empty or not, it is Alice's
        store.add_turn(mine.id, ALICE, answer("Question d'Alice"))
        store.check_owned(mine.id, ALICE)
        gone = store.create_conversation(ALICE)
        store.delete_conversation(gone.id, ALICE)
        for conversation_id, user in ((mine.id, BOB), (gone.id, ALICE), ("x" * 500, ALICE)):
            with pytest.raises(ConversationNotFound, match="introuvable"):
                store.check_owned(conversation_id, user)
        with pytest.raises(InputError):
            store.check_owned(mine.id, " ")

    def test_feedback_and_retours_are_per_user_unless_all_users(self, store: ConversationStore) -> None:
        for user in (ALICE, BOB):
            conv = store.create_conversation(user)
            turn = store.add_turn(conv.id, user, answer(f"Question de {user}"))
            store.add_feedback(turn.id, user, "down", ["Incomplet"])
        assert [f.user_id for f in store.list_feedback(ALICE)] == [ALICE]
        assert [i.user_id for i in store.retours(BOB).items] == [BOB]
        assert {f.user_id for f in store.list_feedback(ALICE, all_users=True)} == {ALICE, BOB}
        assert {i.user_id for i in store.retours(ALICE, all_users=True).items} == {ALICE, BOB}

    def test_bad_user_ids(self, store: ConversationStore) -> None:
        for bad in ("", "  ", "u" * 256):
            with pytest.raises(InputError, match="utilisateur"):
                store.create_conversation(bad)


class TestFeedback:
    def test_one_opinion_per_answer_the_last_one_wins(self, store: ConversationStore) -> None:
        conv = store.create_conversation(ALICE)
        turn = store.add_turn(conv.id, ALICE, answer("Quels partenaires à Brest ?"))
        store.add_feedback(turn.id, ALICE, "up")
        record = store.add_feedback(turn.id, ALICE, "down", ["Mauvaise source", "Incomplet", "Incomplet"],
                                    "  la fiche de Quimper manque  ")
        assert record.reasons == ["Mauvaise source", "Incomplet"] and record.comment == "la fiche de Quimper manque"
        assert record.question == "Quels partenaires à Brest ?" and record.conversation_id == conv.id
        assert store.list_feedback(ALICE) == [record]
        assert store.get_conversation(conv.id, ALICE).turns[0].feedback == record
        assert store.list_feedback(ALICE, rating="up") == []

    @pytest.mark.parametrize("rating, reasons, comment, message", [
        ("bof", [], "", "avis invalide"),
        ("down", ["Trop court"], "", "raison inconnue"),
        ("up", ["Incomplet"], "", "qu'avec un avis 👎"),
        ("down", [], "x" * 2001, "commentaire trop long"),
    ])
    def test_bad_feedback_is_refused_in_french(self, store: ConversationStore, rating: str, reasons: list[str],
                                               comment: str, message: str) -> None:
        conv = store.create_conversation(ALICE)
        turn = store.add_turn(conv.id, ALICE, answer("Q"))
        with pytest.raises(InputError, match=message):
            store.add_feedback(turn.id, ALICE, rating, reasons, comment)  # type: ignore[arg-type]
        assert store.list_feedback(ALICE) == []

    def test_retours_lists_downvoted_and_not_covered_grouped(self, store: ConversationStore) -> None:
        conv = store.create_conversation(ALICE)
        liked = store.add_turn(conv.id, ALICE, answer("Bonne réponse", cited=("brest",)))
        wrong = store.add_turn(conv.id, ALICE, answer("Réponse fausse", cited=("brest", "quimper")))
        time.sleep(0.01)
        other = store.create_conversation(ALICE)
        silent = store.add_turn(other.id, ALICE, answer("Réponse muette", text="Rien de cité.", cited=()))
        uncovered = store.add_turn(other.id, ALICE, not_covered("Carte grise à Lille ?"))
        store.add_feedback(liked.id, ALICE, "up")
        store.add_feedback(wrong.id, ALICE, "down", ["Information fausse", "Mauvaise source"], "ce n'est pas Brest")
        store.add_feedback(silent.id, ALICE, "down")
        retours = store.retours(ALICE)
        assert [i.turn_id for i in retours.items] == [uncovered.id, silent.id, wrong.id]  # newest first
        by_id = {i.turn_id: i for i in retours.items}
        assert by_id[uncovered.id].not_covered and by_id[uncovered.id].rating is None
        assert by_id[uncovered.id].conversation_id == other.id and by_id[wrong.id].conversation_id == conv.id
        assert [(i.fiche_id, i.title) for i in by_id[wrong.id].initiatives] == [("brest", "Fiche brest"),
                                                                               ("quimper", "Fiche quimper")]
        groups = {g.key: [i.turn_id for i in g.items] for g in retours.by_initiative()}
        assert groups == {"brest": [wrong.id], "quimper": [wrong.id], "": [uncovered.id, silent.id]}
        assert retours.by_initiative()[0].label == NO_INITIATIVE  # the largest group first
        reasons = {g.key: [i.turn_id for i in g.items] for g in retours.by_reason()}
        assert reasons == {"Information fausse": [wrong.id], "Mauvaise source": [wrong.id],
                           NO_REASON: [silent.id], NOT_COVERED_LABEL: [uncovered.id]}
        assert [g.key for g in retours.by_reason()] == [r for r in [*REASONS, NO_REASON, NOT_COVERED_LABEL]
                                                         if r in reasons]


def test_migrated_schema_matches_the_tables_the_queries_use(store: ConversationStore) -> None:
    store.list_conversations(ALICE)  # first use: migrates
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
