"""Answer quality on a question set, through the whole pipeline (extractive backend by default).

For each question (``eval/dev.jsonl`` by default; any set of ``eval/`` works):

* citation validity: every ``[n]`` in the final answer is the number of a passage that
  was given to the backend (target 100%);
* covered questions (a non-empty gold): not abstained; gold cited (at least one cited
  passage belongs to a gold fiche); **cited-initiative precision** (of the initiatives
  the answer cites, the share that are gold) and **recall** (of the gold initiatives,
  the share cited), both summed over the questions of a kind (micro average); exact set
  (the cited initiatives are exactly the gold ones: what a "which initiatives" or a
  territory question asks);
* ``not_covered`` questions (and any other empty gold): abstained;
* ``not_covered_detail`` (a fiche is gold but lacks the asked detail): the answer says
  « La fiche ne précise pas … » and cites the gold fiche.

    .venv/bin/python bench/eval_answers.py [--questions eval/dev.jsonl] [--backend extractive]
        [--embedder use] [--details] [--sweep]

``--sweep`` (extractive): the precision/recall trade-off of the two margins of
:mod:`rag.answer.backends.extractive` (an initiative is quoted within ``margin`` of the
best sentence, ``list_margin`` for a "which initiatives" question), each pair re-run on
the same retrieved passages: where the margins alone can take precision and recall.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import indexed_services  # noqa: E402

from rag.answer.backends import create_backend  # noqa: E402
from rag.answer.pipeline import ask  # noqa: E402
from rag.config import ROOT, Settings  # noqa: E402
from rag.search.evaluation import Question, load_questions  # noqa: E402
from rag.types import Answer, GenerationRequest  # noqa: E402

DETAIL = "not_covered_detail"
LACKS = re.compile(r"ne précise pas", re.I)


@dataclass
class Tally:
    """Counts for one kind of question (or all covered ones)."""

    questions: int = 0
    answered: int = 0
    gold_cited: int = 0
    exact: int = 0
    right: int = 0  # cited initiatives that are gold
    cited: int = 0  # cited initiatives
    gold: int = 0  # gold initiatives
    ok: int = 0  # the kind's own success (abstained, detail said missing…)
    misses: list[str] = field(default_factory=list)

    def add_covered(self, gold: set[str], cited: set[str], abstained: bool) -> bool:
        """Count a covered question; True when the gold is cited and nothing else."""
        self.questions += 1
        self.answered += not abstained
        self.gold_cited += bool(cited & gold) and not abstained
        self.right += len(cited & gold)
        self.cited += len(cited)
        self.gold += len(gold)
        self.exact += cited == gold
        return cited == gold


def ratio(good: int, count: int) -> str:
    return f"{good}/{count} = {good / count:.1%}" if count else "–"


def score(question: Question, result: Answer, tallies: dict[str, Tally]) -> tuple[bool, str]:
    """Add one answered question to its kind's tally (and the covered total); returns
    (success, short verdict)."""
    cited = {s.fiche_id for s in result.citations}
    tally = tallies[question.kind]
    if question.kind == DETAIL:
        tally.questions += 1
        ok = bool(LACKS.search(result.answer)) and bool(cited & set(question.gold))
        tally.ok += ok
        return ok, "detail said missing" if ok else "detail not said missing"
    if not question.covered:
        tally = tallies[question.kind if question.kind == "not_covered" else f"{question.kind}, gold []"]
        tally.questions += 1
        tally.ok += result.abstained
        return result.abstained, "abstained" if result.abstained else "answered"
    gold = set(question.gold)
    exact = tally.add_covered(gold, cited, result.abstained)
    tallies["(all covered)"].add_covered(gold, cited, result.abstained)
    wrong = sorted(f[:28] for f in cited - gold)
    missing = sorted(f[:28] for f in gold - cited)
    ok = bool(cited & gold) and not result.abstained
    return ok, "exact" if exact else f"extra={wrong} missing={missing} abstained={result.abstained}"


def report(tallies: dict[str, Tally]) -> None:
    """One line per kind: covered kinds get precision/recall, the others their success rate."""
    print(f"{'kind':20} {'n':>3}  {'answered':>14}  {'gold cited':>14}  {'precision':>16}  "
          f"{'recall':>16}  {'exact set':>14}")
    for kind in sorted(tallies, key=lambda k: (k.startswith("("), k)):
        t = tallies[kind]
        if t.gold:
            print(f"{kind:20} {t.questions:3}  {ratio(t.answered, t.questions):>14}  "
                  f"{ratio(t.gold_cited, t.questions):>14}  {ratio(t.right, t.cited):>16}  "
                  f"{ratio(t.right, t.gold):>16}  {ratio(t.exact, t.questions):>14}")
        elif t.questions:
            what = "detail said missing" if kind == DETAIL else "abstained"
            print(f"{kind:20} {t.questions:3}  {what}: {ratio(t.ok, t.questions)}")


SWEEP = [(m, lm) for m in (0.0, 0.1, 0.2, 0.3, 0.45) for lm in (0.3, 0.45, 0.6, 0.8) if lm >= m]


def sweep(settings: Settings, answered: list[tuple[set[str], GenerationRequest]]) -> None:
    """Precision and recall of the covered questions answered, for each pair of margins."""
    print("margin  list_margin  precision  recall")
    for margin, list_margin in SWEEP:
        backend = create_backend("extractive", settings, margin=margin, list_margin=list_margin)
        right = cited = gold_total = 0
        for gold, request in answered:
            fiche_of = {p.n: p.chunk.fiche_id for p in request.passages}
            text = "".join(backend.stream(request))
            fiches = {fiche_of[int(n)] for n in re.findall(r"\[(\d+)\]", text) if int(n) in fiche_of}
            right, cited, gold_total = right + len(fiches & gold), cited + len(fiches), gold_total + len(gold)
        print(f"{margin:6.2f}  {list_margin:11.2f}  {ratio(right, cited):>16}  {ratio(right, gold_total):>16}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="extractive")
    parser.add_argument("--embedder", default="use")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl")
    parser.add_argument("--details", action="store_true", help="one line per question")
    parser.add_argument("--sweep", action="store_true", help="precision/recall for a grid of extractive margins")
    args = parser.parse_args()
    services = indexed_services(args.embedder, "eval-")
    tallies: dict[str, Tally] = defaultdict(Tally)
    failures: list[str] = []
    cited_total = valid_total = 0
    answered: list[tuple[set[str], GenerationRequest]] = []
    for question in load_questions(args.questions):
        run = ask(question.q, services, backend=args.backend)
        result = run.result
        given = {p.n for p in run.given}
        shown = [int(n) for n in re.findall(r"\[(\d+)\]", result.answer)]
        cited_total += len(shown)
        valid_total += sum(n in given for n in shown)
        ok, verdict = score(question, result, tallies)
        if question.covered and question.kind != DETAIL and run.request is not None:
            answered.append((set(question.gold), run.request))
        if not ok or (question.covered and "exact" != verdict and args.details):
            failures.append(f"  {'BAD' if not ok else 'imp'} {question.kind:12} {verdict}  {question.q[:70]}")
        if args.details:
            print(f"{'ok ' if ok else 'BAD'} {question.kind:12} {result.evidence:38} {question.q[:60]}")
    print(f"{args.questions}: backend={args.backend} embedder={args.embedder} "
          f"mode={services.settings.search_mode} k={services.settings.top_k}")
    print(f"citation validity: {ratio(valid_total, cited_total)} (target 100%)")
    report(tallies)
    if failures:
        print("misses (BAD) and imprecise answers (imp, with --details):")
        print("\n".join(failures))
    if args.sweep:
        sweep(services.settings, answered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
