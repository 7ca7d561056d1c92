"""Retrieval evaluation on a JSONL question set: fiche-level recall@k and MRR per search
mode (dense, BM25, hybrid), overall and per question kind, plus top-1 score statistics
for the abstention threshold.

Question file, one JSON object per line: ``{"q": "...", "gold": ["fiche-id", ...],
"kind": "paraphrase"}``. An empty ``gold`` means the catalogue does not cover the
question: such questions are left out of recall/MRR (there is nothing to find) and
reported separately with their top-1 score, next to the covered questions' scores, so
the answering step can pick a score under which it abstains.

Fiche level: hits are deduplicated to fiche ids in rank order, because a user cares
about which initiatives are found, not which sections.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from rag.errors import InputError
from rag.search.retrieval import check_k

NOT_COVERED = "not_covered"
MODES: tuple[str, ...] = ("dense", "bm25", "hybrid")


class Question(BaseModel):
    """One evaluation question; ``gold`` empty = not covered by the catalogue."""

    q: str
    gold: list[str] = Field(default_factory=list)
    kind: str = "other"

    @property
    def covered(self) -> bool:
        return bool(self.gold)


class SearchesPassages(Protocol):
    """The retriever protocol we need (``rag.search.retrieval.Retriever`` fits): hits with
    ``.score`` and ``.chunk.fiche_id``."""

    def search(self, query: str, k: int = 10, mode: str = "hybrid",
               filters: dict[str, str] | None = None) -> Sequence: ...


def _parse_line(line: str, number: int) -> Question:
    """One JSONL line -> Question, or InputError naming the line and the problem."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"ligne {number} : JSON invalide ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"ligne {number} : objet attendu {{\"q\": ..., \"gold\": [...]}}")
    q, gold, kind = data.get("q"), data.get("gold"), data.get("kind", None)
    if not isinstance(q, str) or not q.strip():
        raise InputError(f"ligne {number} : \"q\" doit être un texte non vide")
    if not isinstance(gold, list) or not all(isinstance(g, str) and g.strip() for g in gold):
        raise InputError(f"ligne {number} : \"gold\" doit être une liste d'id de fiches ([] = hors catalogue)")
    if kind is not None and (not isinstance(kind, str) or not kind.strip()):
        raise InputError(f"ligne {number} : \"kind\" doit être un texte non vide")
    if kind == NOT_COVERED and gold:
        raise InputError(f"ligne {number} : kind \"not_covered\" mais \"gold\" n'est pas vide")
    kind = kind or (NOT_COVERED if not gold else "other")
    return Question(q=q.strip(), gold=list(dict.fromkeys(g.strip() for g in gold)), kind=kind)


def load_questions(path: Path) -> list[Question]:
    """Read and validate a question file; blank lines are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"lecture impossible du fichier de questions {path} : {exc}") from None
    questions = [_parse_line(line, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not questions:
        raise InputError(f"{path} : aucune question trouvée (un objet JSON par ligne)")
    return questions


def check_gold(questions: Iterable[Question], known_ids: Iterable[str]) -> None:
    """Fail on gold ids absent from the corpus: a typo would silently count as a miss."""
    known = set(known_ids)
    unknown = sorted({g for q in questions for g in q.gold if g not in known})
    if unknown:
        raise InputError(f"id gold absents du corpus : {', '.join(unknown)}")


def fiche_ranking(hits: Iterable) -> list[str]:
    """Fiche ids in order of first appearance among the hits."""
    return list(dict.fromkeys(hit.chunk.fiche_id for hit in hits))


def recall_at(ranking: Sequence[str], gold: Sequence[str], k: int) -> float:
    """|gold ∩ top-k fiches| / |gold|."""
    return len(set(gold) & set(ranking[:k])) / len(set(gold))


def reciprocal_rank(ranking: Sequence[str], gold: Sequence[str]) -> float:
    """1 / rank of the first gold fiche (0 when none was retrieved)."""
    return next((1.0 / rank for rank, fid in enumerate(ranking, 1) if fid in gold), 0.0)


class QuestionResult(BaseModel):
    """One question in one mode: the fiche ranking and its metrics (none if not covered)."""

    q: str
    kind: str
    gold: list[str]
    ranking: list[str]
    top_score: float | None
    filters: dict[str, str] = Field(default_factory=dict)
    recall: dict[int, float] = Field(default_factory=dict)
    rr: float | None = None


class Metrics(BaseModel):
    """Means over the covered questions of a group."""

    n: int
    recall: dict[int, float]
    mrr: float


class ScoreStats(BaseModel):
    """Top-1 scores of covered vs not-covered questions, and the best cut between them."""

    covered: dict[str, float]  # min, p10, p25, median, max
    not_covered: list[tuple[str, float | None, str | None]]  # question, top-1 score, top fiche
    threshold: float | None  # abstain when top-1 score < threshold
    threshold_accuracy: float | None  # share of questions the threshold classifies right
    separable: bool  # every not-covered score is below every covered score


class ModeReport(BaseModel):
    mode: str
    overall: Metrics
    per_kind: dict[str, Metrics]
    scores: ScoreStats
    questions: list[QuestionResult]


class EvalReport(BaseModel):
    embedder: str
    k: int
    cutoffs: list[int]
    n_questions: int
    n_not_covered: int
    inferred_filters: bool = False
    modes: dict[str, ModeReport]


def _aggregate(results: list[QuestionResult], cutoffs: list[int]) -> Metrics:
    covered = [r for r in results if r.rr is not None]
    if not covered:
        return Metrics(n=0, recall={c: 0.0 for c in cutoffs}, mrr=0.0)
    return Metrics(
        n=len(covered),
        recall={c: statistics.fmean(r.recall[c] for r in covered) for c in cutoffs},
        mrr=statistics.fmean(r.rr for r in covered if r.rr is not None),
    )


def _best_threshold(pos: list[float], neg: list[float]) -> tuple[float | None, float | None]:
    """The cut maximising correct decisions (answer if score >= t, else abstain)."""
    if not pos or not neg:
        return None, None
    values = sorted(set(pos + neg))
    candidates = [values[0] - 1e-9] + [(a + b) / 2 for a, b in pairwise(values)] + [values[-1] + 1e-9]
    def correct(t: float) -> int:
        return sum(s >= t for s in pos) + sum(s < t for s in neg)
    best = max(candidates, key=lambda t: (correct(t), -abs(t)))
    return round(best, 6), correct(best) / (len(pos) + len(neg))


def _score_stats(results: list[QuestionResult]) -> ScoreStats:
    pos = [r.top_score for r in results if r.rr is not None and r.top_score is not None]
    neg_rows = [(r.q, r.top_score, r.ranking[0] if r.ranking else None) for r in results if r.rr is None]
    neg = [s for _, s, _ in neg_rows if s is not None]
    covered: dict[str, float] = {}
    if pos:
        qs = statistics.quantiles(pos, n=20, method="inclusive") if len(pos) > 1 else [pos[0]] * 19
        covered = {"min": min(pos), "p10": qs[1], "p25": qs[4], "median": statistics.median(pos), "max": max(pos)}
    threshold, accuracy = _best_threshold(pos, neg)
    return ScoreStats(covered=covered, not_covered=neg_rows, threshold=threshold,
                      threshold_accuracy=accuracy, separable=bool(pos and neg) and max(neg) < min(pos))


def _run_question(retriever: SearchesPassages, question: Question, mode: str, k: int,
                  depth: int, cutoffs: list[int], filters: dict[str, str]) -> QuestionResult:
    hits = list(retriever.search(question.q, k=depth, mode=mode, filters=filters or None))
    ranking = fiche_ranking(hits)[:k]
    result = QuestionResult(q=question.q, kind=question.kind, gold=question.gold, ranking=ranking,
                            top_score=float(hits[0].score) if hits else None, filters=filters)
    if question.covered:
        result.recall = {c: recall_at(ranking, question.gold, c) for c in cutoffs}
        result.rr = reciprocal_rank(ranking, question.gold)
    return result


def evaluate(retriever: SearchesPassages, questions: Sequence[Question],
             modes: Sequence[str] = MODES, k: int = 10, *, embedder: str = "", depth: int | None = None,
             filters_for: Callable[[str], dict[str, str]] | None = None) -> EvalReport:
    """Run every question in every mode. ``depth`` chunks are fetched per query (default
    ``5 * k``) so that ``k`` distinct fiches remain after deduplication. ``filters_for``
    gives a question's filters (the pipeline's ``infer_filters``), to measure retrieval
    as the answering step runs it; by default, none."""
    check_k(k)
    cutoffs = sorted({c for c in (1, 5, k) if c <= k})
    depth = depth or 5 * k
    filters = {q.q: filters_for(q.q) if filters_for else {} for q in questions}
    modes_out: dict[str, ModeReport] = {}
    for mode in modes:
        results = [_run_question(retriever, q, mode, k, depth, cutoffs, filters[q.q]) for q in questions]
        kinds = dict.fromkeys(r.kind for r in results if r.rr is not None)
        modes_out[mode] = ModeReport(
            mode=mode,
            overall=_aggregate(results, cutoffs),
            per_kind={kind: _aggregate([r for r in results if r.kind == kind], cutoffs) for kind in kinds},
            scores=_score_stats(results),
            questions=results,
        )
    return EvalReport(embedder=embedder, k=k, cutoffs=cutoffs, n_questions=len(questions),
                      n_not_covered=sum(not q.covered for q in questions),
                      inferred_filters=filters_for is not None, modes=modes_out)


def _fmt(value: float | None, width: int = 7) -> str:
    return f"{'-' if value is None else f'{value:.3g}':>{width}}"


def _metrics_cells(m: Metrics, cutoffs: list[int]) -> str:
    return " ".join(f"{m.recall[c]:5.2f}" for c in cutoffs) + f" {m.mrr:5.2f}"


def _metrics_table(report: EvalReport) -> list[str]:
    modes = list(report.modes.values())
    head = " ".join(f"{'R@' + str(c):>5}" for c in report.cutoffs) + f" {'MRR':>5}"
    width = len(head)
    lines = [f"{'':16}" + "".join(f" | {m.mode:<{width}}" for m in modes),
             f"{'type':12}{'n':>4}" + f" | {head}" * len(modes)]
    rows: list[tuple[str, list[Metrics | None]]] = [("ensemble", [m.overall for m in modes])]
    rows += [(kind, [m.per_kind.get(kind) for m in modes]) for kind in modes[0].per_kind]
    for label, metrics in rows:
        cells = "".join(f" | {_metrics_cells(m, report.cutoffs) if m else '-':<{width}}" for m in metrics)
        lines.append(f"{label[:12]:12}{metrics[0].n if metrics[0] else 0:>4}{cells}")
    return lines


def _score_table(report: EvalReport) -> list[str]:
    modes = list(report.modes.values())
    lines = ["", "Score du 1er résultat (calibrage du seuil d'abstention ; comparer dans un même mode)",
             f"{'':56}" + "".join(f"{m.mode:>9}" for m in modes)]
    for stat, label in (("min", "min"), ("p10", "p10"), ("median", "médiane"), ("max", "max")):
        lines.append(f"  {'couvertes ' + label:54}" + "".join(_fmt(m.scores.covered.get(stat), 9) for m in modes))
    for i, (question, _, _) in enumerate(modes[0].scores.not_covered):
        cells = "".join(_fmt(m.scores.not_covered[i][1], 9) for m in modes)
        lines.append(f"  hors catalogue: {question[:38]:38}{cells}")
    lines.append(f"  {'seuil suggéré':54}" + "".join(_fmt(m.scores.threshold, 9) for m in modes))
    lines.append(f"  {'  bien classées avec ce seuil (%)':54}" + "".join(
        _fmt(None if m.scores.threshold_accuracy is None else 100 * m.scores.threshold_accuracy, 9)
        for m in modes))
    return lines


def _rank(ranking: list[str], fiche_id: str) -> str:
    return f"rang {ranking.index(fiche_id) + 1}" if fiche_id in ranking else "absente"


def _misses(report: EvalReport) -> list[str]:
    cut = 5 if 5 in report.cutoffs else report.k
    lines = ["", f"Questions couvertes dont une fiche attendue manque du top-{cut}"]
    for mode in report.modes.values():
        for r in mode.questions:
            if r.rr is not None and r.recall[cut] < 1:
                missing = [f"{g} ({_rank(r.ranking, g)})" for g in r.gold if g not in r.ranking[:cut]]
                lines.append(f"  [{mode.mode}/{r.kind}] {r.q[:70]}\n      manque {', '.join(missing)}"
                             f" ; top-3 {', '.join(x[:40] for x in r.ranking[:3]) or '(aucun résultat)'}"
                             + (f" ; filtres {r.filters}" if r.filters else ""))
    return lines


def format_table(report: EvalReport, *, details: bool = False) -> str:
    """The report as a text table, modes side by side; ``details`` lists the misses."""
    covered = report.n_questions - report.n_not_covered
    lines = [f"Évaluation de la recherche — embedder « {report.embedder} » — {report.n_questions}"
             f" questions ({covered} couvertes, {report.n_not_covered} hors catalogue), k={report.k}",
             "Niveau fiche : R@k = part des fiches attendues dans les k premières ; MRR = 1/rang de la première."
             + (" Filtres déduits de la question (comme le pipeline)." if report.inferred_filters else ""),
             ""]
    lines += _metrics_table(report) + _score_table(report)
    if details:
        lines += _misses(report)
    return "\n".join(lines)
