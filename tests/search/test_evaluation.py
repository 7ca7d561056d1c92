"""Retrieval evaluation: metrics on hand-computed cases, question-file validation, the dev
set's shape, and the ``eval`` command end to end on the bundled corpus."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.search.evaluation import (
    Question,
    check_gold,
    evaluate,
    fiche_ranking,
    format_table,
    load_questions,
    recall_at,
    reciprocal_rank,
)
from rag.types import Chunk

ROOT = Path(__file__).resolve().parents[2]
DEV_SET = ROOT / "eval" / "dev.jsonl"


@dataclass
class FakeHit:
    """Shape of ``rag.search.retrieval.Hit`` as far as evaluation reads it."""

    chunk: Chunk
    score: float


class TableRetriever:
    """A real retriever over a fixed table: (mode, query) -> [(fiche_id, score), ...]."""

    def __init__(self, table: dict[tuple[str, str], list[tuple[str, float]]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int, str]] = []

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters=None) -> list[FakeHit]:
        self.calls.append((query, k, mode))
        rows = self.table.get((mode, query), [])[:k]
        return [FakeHit(Chunk(id=f"{fid}::s::{i}", fiche_id=fid, title=fid, section="s", text="t"), score)
                for i, (fid, score) in enumerate(rows)]


QUESTIONS = [
    Question(q="one", gold=["a"], kind="paraphrase"),
    Question(q="two", gold=["a", "c"], kind="multi"),
    Question(q="none", gold=[], kind="not_covered"),
    Question(q="lost", gold=["z"], kind="paraphrase"),
]
HYBRID = {
    "one": [("b", 0.9), ("a", 0.8), ("a", 0.7), ("c", 0.6)],
    "two": [("a", 0.8), ("b", 0.5), ("d", 0.4), ("e", 0.3), ("f", 0.2), ("c", 0.1)],
    "none": [("x", 0.2)],
    "lost": [("b", 0.7)],
}
DENSE = {"one": [("a", 0.95)], "two": [("c", 0.9), ("a", 0.85)], "none": [("a", 0.99)], "lost": [("z", 0.5)]}


def _retriever() -> TableRetriever:
    table = {("hybrid", q): rows for q, rows in HYBRID.items()}
    table |= {("dense", q): rows for q, rows in DENSE.items()}
    return TableRetriever(table)


def test_fiche_ranking_dedupes_in_rank_order():
    hits = _retriever().search("one", mode="hybrid")
    assert fiche_ranking(hits) == ["b", "a", "c"]


def test_recall_and_reciprocal_rank_by_hand():
    ranking = ["a", "b", "d", "e", "f", "c"]
    assert recall_at(ranking, ["a", "c"], 1) == 0.5
    assert recall_at(ranking, ["a", "c"], 5) == 0.5
    assert recall_at(ranking, ["a", "c"], 10) == 1.0
    assert reciprocal_rank(["b", "a", "c"], ["a"]) == 0.5
    assert reciprocal_rank(["b", "d"], ["a"]) == 0.0


def test_evaluate_hand_computed_metrics_and_not_covered_exclusion():
    report = evaluate(_retriever(), QUESTIONS, modes=("hybrid", "dense"), k=10, embedder="fake")
    hybrid = report.modes["hybrid"]
    assert report.cutoffs == [1, 5, 10]
    assert hybrid.overall.n == 3  # the not-covered question is excluded
    assert hybrid.overall.recall[1] == pytest.approx((0 + 0.5 + 0) / 3)
    assert hybrid.overall.recall[5] == pytest.approx((1 + 0.5 + 0) / 3)
    assert hybrid.overall.recall[10] == pytest.approx((1 + 1 + 0) / 3)
    assert hybrid.overall.mrr == pytest.approx((0.5 + 1 + 0) / 3)
    assert hybrid.per_kind["multi"].recall[1] == 0.5
    assert hybrid.per_kind["paraphrase"].mrr == pytest.approx(0.25)
    assert "not_covered" not in hybrid.per_kind
    dense = report.modes["dense"]
    assert dense.overall.recall[1] == pytest.approx((1 + 0.5 + 1) / 3)
    assert dense.overall.mrr == pytest.approx(1.0)


def test_score_stats_report_not_covered_scores_and_a_threshold():
    report = evaluate(_retriever(), QUESTIONS, modes=("hybrid", "dense"), k=10)
    hybrid = report.modes["hybrid"].scores
    assert hybrid.not_covered == [("none", 0.2, "x")]
    assert hybrid.covered["min"] == 0.7 and hybrid.covered["max"] == 0.9
    assert 0.2 < hybrid.threshold <= 0.7
    assert hybrid.threshold_accuracy == 1.0 and hybrid.separable
    dense = report.modes["dense"].scores  # the not-covered question scores highest
    assert not dense.separable and dense.threshold_accuracy == 0.75


def test_evaluate_fetches_enough_chunks_for_k_fiches_and_truncates_to_k():
    retriever = _retriever()
    report = evaluate(retriever, QUESTIONS, modes=("hybrid",), k=2)
    assert {k for _, k, _ in retriever.calls} == {10}
    assert report.cutoffs == [1, 2]
    assert report.modes["hybrid"].questions[1].ranking == ["a", "b"]


def test_format_table_shows_modes_side_by_side_and_misses():
    report = evaluate(_retriever(), QUESTIONS, modes=("dense", "hybrid"), k=10, embedder="fake")
    text = format_table(report, details=True)
    header = next(line for line in text.splitlines() if "dense" in line and "hybrid" in line)
    assert header.index("dense") < header.index("hybrid")
    assert "« fake »" in text and "ensemble" in text and "multi" in text
    assert "hors catalogue: none" in text
    assert "[hybrid/paraphrase] lost\n      manque z (absente)" in text


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "JSON invalide"),
        ('["q", "gold"]', "objet attendu"),
        ('{"q": "  ", "gold": []}', '"q" doit être'),
        ('{"q": "x"}', '"gold" doit être'),
        ('{"q": "x", "gold": "fiche-a"}', '"gold" doit être'),
        ('{"q": "x", "gold": [""]}', '"gold" doit être'),
        ('{"q": "x", "gold": ["a"], "kind": "not_covered"}', "not_covered"),
        ('{"q": "x", "gold": ["a"], "kind": 3}', '"kind" doit être'),
    ],
)
def test_bad_line_names_its_line_number(tmp_path: Path, line: str, message: str):
    path = tmp_path / "q.jsonl"
    path.write_text('{"q": "ok", "gold": ["a"]}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="ligne 3") as info:
        load_questions(path)
    assert message in str(info.value)


def test_load_questions_defaults_and_file_errors(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"q": "a", "gold": []}\n{"q": "b", "gold": ["x", "x"]}\n', encoding="utf-8")
    first, second = load_questions(path)
    assert (first.kind, first.covered) == ("not_covered", False)
    assert (second.kind, second.gold) == ("other", ["x"])
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="aucune question"):
        load_questions(tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="lecture impossible"):
        load_questions(tmp_path / "missing.jsonl")


def test_check_gold_names_unknown_ids():
    check_gold(QUESTIONS[:2], ["a", "c"])
    with pytest.raises(InputError, match="z"):
        check_gold(QUESTIONS, ["a", "c"])


def test_dev_set_shape():
    questions = load_questions(DEV_SET)
    kinds = [q.kind for q in questions]
    assert len(questions) >= 50
    assert kinds.count("not_covered") >= 8
    for kind in ("paraphrase", "english", "multi", "metadata", "lexical"):
        assert kinds.count(kind) >= 5, kind
    assert all(len(q.gold) >= 2 for q in questions if q.kind == "multi")
    assert len({q.q for q in questions}) == len(questions)


def test_cli_bad_question_line_is_one_readable_error(tmp_path: Path, capsys):
    from rag.cli import main

    path = tmp_path / "q.jsonl"
    path.write_text('{"q": "ok", "gold": []}\n{"q": 1}\n', encoding="utf-8")
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert "ligne 2" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def hashing_env(tmp_path_factory):
    """Environment of a `python -m rag eval` run: hashing embedder, its own data dir."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RAG_EMBEDDER", "hashing")
    mp.setenv("RAG_DATA_DIR", str(tmp_path_factory.mktemp("eval-data")))
    yield
    mp.undo()


def test_cli_eval_end_to_end_on_bundled_corpus(hashing_env, capsys):
    from rag.cli import main

    assert main(["eval", str(DEV_SET), "--details"]) == 0
    table = capsys.readouterr().out
    header = next(line for line in table.splitlines() if "dense" in line)
    assert [header.index(m) for m in ("dense", "bm25", "hybrid")] == sorted(
        header.index(m) for m in ("dense", "bm25", "hybrid"))
    assert "« hashing »" in table and "hors catalogue: accueil en mairie de Marseille" in table

    assert main(["eval", str(DEV_SET), "--json", "--k", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    questions = load_questions(DEV_SET)
    assert set(report["modes"]) == {"dense", "bm25", "hybrid"}
    assert report["cutoffs"] == [1, 5] and report["embedder"] == "hashing"
    for mode in report["modes"].values():
        assert mode["overall"]["n"] == sum(q.covered for q in questions)
        assert len(mode["scores"]["not_covered"]) == report["n_not_covered"] >= 8
    # the lexical questions reuse the text's words: BM25 must find them (not a random order)
    assert report["modes"]["bm25"]["per_kind"]["lexical"]["mrr"] >= 0.8


def test_cli_eval_infer_filters_restricts_to_the_named_city(hashing_env, capsys):
    from rag.cli import main

    assert main(["eval", str(DEV_SET), "--json", "--infer-filters"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["inferred_filters"] is True
    by_question = {r["q"]: r for r in report["modes"]["dense"]["questions"]}
    quimper = by_question["initiatives à Quimper"]
    assert quimper["filters"] == {"commune": "Quimper"}
    assert quimper["ranking"] == ["l-accueil-en-cdas-departement-du-finistere"]
    assert by_question["comment préserver l'anonymat dans la salle d'attente ?"]["filters"] == {}


def test_cli_eval_rejects_gold_ids_missing_from_corpus(hashing_env, tmp_path: Path, capsys):
    from rag.cli import main

    path = tmp_path / "q.jsonl"
    path.write_text('{"q": "accueil", "gold": ["no-such-fiche"]}\n', encoding="utf-8")
    assert main(["eval", str(path)]) == 2
    assert "no-such-fiche" in capsys.readouterr().err
