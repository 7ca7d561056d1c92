"""Answer quality on the dev set, through the whole pipeline (extractive backend by default).

For each question of ``eval/dev.jsonl``:

* citation validity: every ``[n]`` in the final answer is the number of a passage that
  was given to the backend (target 100%);
* gold citation (covered questions): at least one cited passage belongs to a gold fiche
  (target >= 90%);
* abstention: not-covered questions abstain, covered ones do not (target: all / none).

    .venv/bin/python bench/eval_answers.py [--backend extractive] [--embedder use] [--details]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import indexed_services  # noqa: E402

from rag.answer.pipeline import ask  # noqa: E402
from rag.config import ROOT  # noqa: E402
from rag.search.evaluation import load_questions  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="extractive")
    parser.add_argument("--embedder", default="use")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl")
    parser.add_argument("--details", action="store_true", help="one line per question")
    args = parser.parse_args()
    services = indexed_services(args.embedder, "eval-")
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    failures: list[str] = []
    cited_total = valid_total = 0
    for question in load_questions(args.questions):
        run = ask(question.q, services, backend=args.backend)
        result = run.result
        given = {p.n for p in run.given}
        shown = [int(n) for n in re.findall(r"\[(\d+)\]", result.answer)]
        cited_total += len(shown)
        valid_total += sum(n in given for n in shown)
        if question.covered:
            ok = not result.abstained and bool({s.fiche_id for s in result.citations} & set(question.gold))
            totals[f"gold cited ({question.kind})"][0] += ok
            totals[f"gold cited ({question.kind})"][1] += 1
            totals["gold cited (all covered)"][0] += ok
            totals["gold cited (all covered)"][1] += 1
            totals["covered, not abstained"][0] += not result.abstained
            totals["covered, not abstained"][1] += 1
        else:
            ok = result.abstained
            totals["not covered, abstained"][0] += ok
            totals["not covered, abstained"][1] += 1
        if not ok:
            failures.append(f"  {question.kind:11} abstained={result.abstained!s:5} "
                            f"cited={[s.fiche_id[:28] for s in result.citations][:3]} {question.q[:60]}")
        if args.details:
            print(f"{'ok ' if ok else 'BAD'} {question.kind:11} {result.evidence:40} {question.q[:60]}")
    print(f"backend={args.backend} embedder={args.embedder} mode={services.settings.search_mode} "
          f"k={services.settings.top_k}")
    validity = valid_total / cited_total if cited_total else 1.0
    print(f"citation validity: {valid_total}/{cited_total} = {validity:.1%} (target 100%)")
    for name in sorted(totals):
        good, count = totals[name]
        print(f"{name:32} {good:3}/{count:<3} = {good / count:.1%}")
    if failures:
        print("misses:")
        print("\n".join(failures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
