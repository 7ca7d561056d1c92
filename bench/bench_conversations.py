"""What saving a conversation costs: the store's calls timed on SQLite (WAL) and on a
throw-away PostgreSQL cluster (Debian's binaries, ``tests/servers/postgres.py``).

For each database: the first use (open + migrate), then ``add_turn`` (a 6-source answer)
into conversations of 20 turns, ``list_conversations`` over 200 conversations (plain and
with a search), ``get_conversation`` of 20 turns, ``history``, ``add_feedback``,
``retours``. Reports p50/p95 in milliseconds.

    .venv/bin/python bench/bench_conversations.py [--conversations 200] [--turns 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import percentile  # noqa: E402

from rag.conversations import ConversationStore  # noqa: E402
from tests.servers.postgres import start_postgres  # noqa: E402
from tests.support.conversations import answer  # noqa: E402

USER = "local"


def timed(samples: dict[str, list[float]], name: str, call: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = call()
    samples.setdefault(name, []).append((time.perf_counter() - start) * 1000)
    return result


def run(url: str, conversations: int, turns: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[float]] = {}
    store = ConversationStore(url)
    timed(samples, "first use (open + migrate)", lambda: store.list_conversations(USER))
    ids = []
    for n in range(conversations):
        conv = store.create_conversation(USER)
        ids.append(conv.id)
        for t in range(turns if n < 10 else 1):  # 10 long conversations, the others short
            text = answer(f"Question {n}-{t} sur l'accueil à Brest", cited=("brest", "quimper"),
                          others=("nantes", "vendee", "lyon", "saint-denis"))
            turn = timed(samples, "add_turn", lambda c=conv.id, a=text: store.add_turn(c, USER, a))
        timed(samples, "add_feedback", lambda t=turn.id: store.add_feedback(t, USER, "down", ["Incomplet"]))
    for _ in range(30):
        timed(samples, f"list_conversations (100 of {conversations})", lambda: store.list_conversations(USER))
        timed(samples, "list_conversations search", lambda: store.list_conversations(USER, search="question 7-"))
        timed(samples, f"get_conversation ({turns} turns)", lambda: store.get_conversation(ids[3], USER))
        timed(samples, f"history ({turns} turns)", lambda: store.history(ids[3], USER))
        timed(samples, "retours", lambda: store.retours(USER))
    store.close()
    return {name: {"n": len(v), "p50": round(percentile(v, 50), 2), "p95": round(percentile(v, 95), 2)}
            for name, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {}
    with tempfile.TemporaryDirectory(prefix="bench-conv-") as folder:
        report["sqlite"] = run(f"sqlite:///{folder}/app.db", args.conversations, args.turns)
        with start_postgres(folder) as url:
            report["postgresql"] = run(url, args.conversations, args.turns)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for database, rows in report.items():
        print(f"\n{database}")
        for name, row in rows.items():
            print(f"  {name:<32} n={row['n']:>4}  p50 {row['p50']:>8.2f} ms  p95 {row['p95']:>8.2f} ms")


if __name__ == "__main__":
    main()
