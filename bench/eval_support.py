"""How often the per-sentence support check (rag.answer.support) flags a citation.

For each question of the set, through the whole pipeline:

* ``extractive``: the offline backend's answer (verbatim quotes): must flag nothing;
* ``fake, right``: our loopback LLM server (tests/support/fake_llm_server.py, scenario
  ``quote``) answers with the first sentence of each passage, cited right: should flag nothing;
* ``fake, wrong``: the same sentences deliberately cited as the next passage: should flag
  (a sentence may still be backed by the passage it was moved to: two passages of one fiche
  often say the same thing);
* ``moved``: each cited sentence of the extractive answer re-cited to the best-ranked
  given passage of *another* fiche (a hard negative: retrieved for the same question).

Printed: flagged (sentence, [n]) pairs / cited pairs, per set, and the flagged ones with
``--details``.

    .venv/bin/python bench/eval_support.py [--questions eval/dev.jsonl] [--embedder use] [--details]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import indexed_services  # noqa: E402

from rag.answer.pipeline import ask  # noqa: E402
from rag.answer.support import MIN_TERMS, claim, embedder_similarity, sentences, terms, unsupported  # noqa: E402
from rag.config import ROOT  # noqa: E402
from rag.search.evaluation import load_questions  # noqa: E402
from tests.support.fake_llm_server import FakeLLMServer, Scenario  # noqa: E402

CITE = re.compile(r"\[(\d{1,3})\]")


def cited_pairs(text: str) -> list[tuple[str, int]]:
    """Every (sentence, n) the support check judges (not sentences of under MIN_TERMS content words)."""
    return [(s, int(n)) for s in sentences(text) if len(terms(claim(s))) >= MIN_TERMS
            for n in dict.fromkeys(CITE.findall(s))]


def moved(text: str, given: list) -> list[tuple[str, int]]:  # noqa: ANN001 - list[Passage]
    """Each cited sentence re-cited to the best-ranked given passage of another fiche."""
    fiche = {p.n: p.chunk.fiche_id for p in given}
    out = []
    for sentence, n in cited_pairs(text):
        other = next((p.n for p in given if p.chunk.fiche_id != fiche.get(n)), None)
        if other is not None:
            out.append((CITE.sub("", sentence).rstrip() + f" [{other}]", other))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl")
    parser.add_argument("--embedder", default="use")
    parser.add_argument("--details", action="store_true", help="print every flagged sentence")
    args = parser.parse_args()
    services = indexed_services(args.embedder, "support-")
    similarity = embedder_similarity(services.retriever.embedder)
    server = FakeLLMServer().start()
    counts: Counter[str] = Counter()
    flagged: list[str] = []
    try:
        for question in load_questions(args.questions):
            runs = {"extractive": ask(question.q, services)}
            for name, shift in (("fake, right", 0), ("fake, wrong", 1)):
                server.reset()
                server.queue(Scenario(kind="quote", shift=shift))
                runs[name] = ask(question.q, services, backend="openai", base_url=server.url + "/v1",
                                 model="test-model")
                runs[name].result  # noqa: B018 - the answer is produced now, with this scenario queued
            for name, run in runs.items():
                result = run.result
                if result.abstained or result.error:
                    continue
                counts[f"{name} cited"] += len(cited_pairs(result.answer))
                counts[f"{name} flagged"] += len(result.unsupported)
                flagged += [f"  {name:11} [{u.n}] {u.sentence[:110]}" for u in result.unsupported]
            extractive = runs["extractive"]
            if not extractive.result.abstained:
                for sentence, _other in moved(extractive.result.answer, extractive.given):
                    counts["moved cited"] += 1
                    counts["moved flagged"] += bool(unsupported(sentence, extractive.given, similarity))
    finally:
        server.stop()
    print(f"questions={args.questions.name} embedder={args.embedder}")
    for name in ("extractive", "fake, right", "fake, wrong", "moved"):
        cited, hit = counts[f"{name} cited"], counts[f"{name} flagged"]
        print(f"{name:12} flagged {hit:4} / {cited:4} cited (sentence, [n]) = {hit / cited if cited else 0:.1%}")
    if args.details and flagged:
        print("flagged:")
        print("\n".join(flagged))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
