"""Calibrate the abstention threshold on the dev set and print the margins.

For every dev question the pipeline's own steps run (inferred filters, retrieval,
:func:`rag.answer.abstention.prejudge`); questions that names or filters settle are listed
apart, so are those whose passages hold their words (:func:`rag.answer.abstention.lexical_support`
at or above ``SUPPORTED``: the cosine cannot refuse them), and for the others the best
dense cosine over the index is compared:
the threshold is the midpoint between the highest not-covered cosine and the lowest
covered one; when the two sets overlap, it is the midpoint just under the lowest covered
one (a covered question must never be refused) and the not-covered questions it misses
are listed. Paste it into ``rag.answer.abstention.CALIBRATED`` for that embedder.

    .venv/bin/python bench/calibrate_abstention.py [--embedder use] [--questions eval/dev.jsonl]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import indexed_services  # noqa: E402

from rag.answer.abstention import SUPPORTED, lexical_support, prejudge, top_cosine  # noqa: E402
from rag.config import ROOT  # noqa: E402
from rag.search.evaluation import load_questions  # noqa: E402
from rag.search.filters import infer_filters  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="use")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a fresh temp dir")
    args = parser.parse_args()
    services = indexed_services(args.embedder, "calibrate-", args.data_dir)
    fiches, settings = services.fiches, services.settings
    covered, not_covered = [], []
    print(f"embedder={args.embedder} mode={settings.search_mode} k={settings.top_k}")
    for question in load_questions(args.questions):
        filters = infer_filters(question.q, fiches)
        hits = services.retriever.search(question.q, k=settings.top_k, mode=settings.search_mode, filters=filters)
        decision = prejudge(question.q, fiches, filtered=bool(filters))
        cosine = top_cosine(services.retriever, question.q, filters)
        if decision is not None:
            ok = decision.abstain != question.covered
            print(f"  settled {'ok ' if ok else 'BAD'} abstain={decision.abstain!s:5} {question.kind:11} {question.q[:70]}")
            continue
        support = lexical_support(question.q, (h.chunk for h in hits), services.retriever.lexical)
        if support >= SUPPORTED:
            print(f"  words   {'ok ' if question.covered else 'BAD'} support={support:.2f} {question.kind:11} {question.q[:60]}")
            continue
        (covered if question.covered else not_covered).append((cosine, question.q))
    print("\nby cosine (lowest covered, highest not covered):")
    for cosine, q in sorted(covered)[:5]:
        print(f"  covered     {cosine:.4f}  {q[:70]}")
    for cosine, q in sorted(not_covered, reverse=True)[:5]:
        print(f"  not covered {cosine:.4f}  {q[:70]}")
    low, high = min(c for c, _ in covered), max(c for c, _ in not_covered)
    print(f"\nlowest covered {low:.4f}, highest not-covered {high:.4f}, gap {low - high:+.4f}")
    below = [c for c, _ in not_covered if c < low]
    if low > high:
        threshold = (low + high) / 2
    else:  # no clean cut: never abstain on a covered question, catch what lies below it
        threshold = (low + max(below)) / 2 if below else 0.0
        print("no threshold separates the two sets; keeping every covered question answered")
    if below or low > high:
        print(f"threshold = {threshold:.4f} (margin {low - threshold:+.4f} to the lowest covered, "
              f"{threshold - max(below or [high]):+.4f} to the highest not-covered below it)")
    else:
        print("threshold = 0 (no not-covered question lies below every covered one: the cosine cannot help)")
    missed = [q for c, q in not_covered if c >= threshold]
    print(f"not-covered questions the cosine leaves answered: {len(missed)} of {len(not_covered)}")
    for q in missed:
        print(f"  {q}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
