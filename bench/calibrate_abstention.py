"""Calibrate the abstention on the dev set and print every signal with its margins.

For every question the pipeline's own steps run (inferred filters, retrieval,
:func:`rag.answer.abstention.prejudge`, the sentence-level :func:`~rag.answer.abstention.signals`,
the lexical support and the best dense cosine). Printed per question: what settled it,
the share of key words unknown to the catalogue (after the embedder's neighbours), the
best quote's cosine, the theme cosine. Then, for the questions no other signal settles,
the cosine threshold: the midpoint between the highest not-covered cosine and the lowest
covered one; when they overlap, the midpoint just under the lowest covered one (a covered
question must never be refused). Paste it into ``rag.answer.abstention.CALIBRATED``.
Calibrate on ``eval/dev.jsonl`` only; run the held-out sets to report, not to tune.

    .venv/bin/python bench/calibrate_abstention.py [--embedder use] [--questions eval/dev.jsonl]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import indexed_services  # noqa: E402

from rag.answer.abstention import SUPPORTED, by_signals, lexical_support, prejudge, signals, top_cosine  # noqa: E402
from rag.answer.evidence import SENTENCE_CHARS, sentence_similarity, split_passages  # noqa: E402
from rag.config import ROOT  # noqa: E402
from rag.index.embeddings import Embedder  # noqa: E402
from rag.search.evaluation import load_questions  # noqa: E402
from rag.search.filters import infer_filters  # noqa: E402
from rag.types import Passage  # noqa: E402


def _similarity(embedder: Embedder, question: str, passages: list[Passage]) -> dict[str, float]:
    """Each quotable sentence's cosine with the question, as the pipeline computes it."""
    sentences = split_passages(passages, SENTENCE_CHARS).values()
    return sentence_similarity(embedder, question, (s.text for ss in sentences for s in ss))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="use")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a fresh temp dir")
    args = parser.parse_args()
    services = indexed_services(args.embedder, "calibrate-", args.data_dir)
    fiches, settings, embedder = services.fiches, services.settings, services.embedder
    covered, not_covered = [], []
    ratios: dict[bool, list[float]] = {True: [], False: []}
    print(f"embedder={args.embedder} mode={settings.search_mode} k={settings.top_k}")
    print("verdict  settled-by  covered  unknown-share  best-quote  theme  head-share  head/quote  question")
    for question in load_questions(args.questions):
        filters = infer_filters(question.q, fiches)
        hits = services.retriever.search(question.q, k=settings.top_k, mode=settings.search_mode, filters=filters)
        cosine = top_cosine(services.retriever, question.q, filters)
        passages = [Passage(n=i, chunk=h.chunk, score=h.score, dense=h.dense) for i, h in enumerate(hits, 1)]
        quote = max([cosine or 0.0, *_similarity(embedder, question.q, passages).values()])
        found = signals(question.q, fiches, embedder, quote)
        ratio = found.head_share / max(found.quote, 1e-6)
        decision, by = prejudge(question.q, fiches, filtered=bool(filters)), "names"
        if decision is None and not filters:
            ratios[question.covered].append(ratio)
        if decision is None:
            decision, by = by_signals(found), "signals"
        support = lexical_support(question.q, (h.chunk for h in hits), services.retriever.lexical)
        if decision is None and support >= SUPPORTED:
            by = "words"
        elif decision is None:
            by = "cosine"
            (covered if question.covered else not_covered).append((cosine or 0.0, question.q))
        refused = decision.abstain if decision is not None else None
        ok = "?  " if refused is None else ("ok " if refused != question.covered else "BAD")
        print(f"  {ok} {by:8} {question.covered!s:5} {found.share:5.2f} {found.quote:6.3f} {found.theme:6.3f} "
              f"{found.head_share:5.2f} {ratio:5.2f}  {question.q[:60]} {found.unknown if found.unknown else ''}")
    head_ratio(ratios)
    if not covered or not not_covered:
        print("\nthe cosine decides no question of one side: keep the current threshold")
        return 0
    low, high = min(c for c, _ in covered), max(c for c, _ in not_covered)
    print(f"\nby cosine: lowest covered {low:.4f}, highest not-covered {high:.4f}, gap {low - high:+.4f}")
    below = [c for c, _ in not_covered if c < low]
    threshold = (low + high) / 2 if low > high else ((low + max(below)) / 2 if below else 0.0)
    print(f"threshold = {threshold:.4f}; not-covered questions the cosine leaves answered: "
          f"{sum(c >= threshold for c, _ in not_covered)} of {len(not_covered)}")
    for cosine, q in sorted(not_covered, reverse=True):
        if cosine >= threshold:
            print(f"  {cosine:.4f}  {q}")
    return 0


def head_ratio(ratios: dict[bool, list[float]]) -> None:
    """Print the head-concept ratio threshold: the midpoint between the highest covered
    ratio and the lowest not-covered ratio above it."""
    high = max(ratios[True], default=0.0)
    above = [r for r in ratios[False] if r > high]
    if not above:
        print(f"\nhead ratio: no not-covered question above the highest covered ratio ({high:.2f})")
        return
    print(f"\nhead ratio: highest covered {high:.2f}, lowest not-covered above it {min(above):.2f}, "
          f"HEAD_RATIO = {(high + min(above)) / 2:.2f} ({len(above)} of {len(ratios[False])} not-covered above)")


if __name__ == "__main__":
    raise SystemExit(main())
