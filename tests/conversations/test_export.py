"""rag.conversations.export: the Markdown document (the chat's download and
``conversations export --format md``) and the JSON one, from a real SQLite store."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from rag.conversations import LOCAL_USER, Timings
from rag.conversations.export import ExportTurn, conversation_json, conversation_markdown, turns_markdown
from tests.support.conversations import HOSTILE_ANSWER, answer, hostile, not_covered, sqlite_store
from tests.support.ui_fixtures import unescape, unescaped_markup

WHEN = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
OUR_LINK = re.compile(r"\[site de l'initiative\]\(https://exemple\.fr/\w+\)")


def test_markdown_document_of_a_stored_conversation(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    conv = store.create_conversation(LOCAL_USER)
    first = store.add_turn(conv.id, LOCAL_USER, answer("Initiatives  à\nBrest ?", filters={"ville": "Brest"}),
                           Timings(first_token_ms=50, total_ms=400))
    store.add_turn(conv.id, LOCAL_USER, not_covered("Et les cartes grises ?"))
    store.add_turn(conv.id, LOCAL_USER, answer("Et à Nantes ?", "", error="moteur indisponible", backend="openai"))
    store.add_feedback(first.id, LOCAL_USER, "down", ["Incomplet"], "il manque Quimper")
    text = conversation_markdown(store.get_conversation(conv.id, LOCAL_USER), exported_at=WHEN)
    assert text == f"""# Initiatives à Brest ?

Conversation {conv.id}, exportée le 2026-01-02 03:04 UTC (moteurs : extractive, openai).

## 1. Initiatives à Brest ?

Réponse \\[1\\].

Filtres : Commune : Brest

### Sources citées
- **\\[1\\] Fiche brest › Contexte** — [site de l'initiative](https://exemple.fr/brest)

### Aussi retrouvés
- **\\[2\\] Fiche nantes › Contexte** — [site de l'initiative](https://exemple.fr/nantes)

Avis : 👎 (Incomplet; il manque Quimper)

## 2. Et les cartes grises ?

Le catalogue ne couvre pas cette question.

_Question non couverte par le catalogue._

### Initiatives proches
- **\\[1\\] Fiche vendee › Contexte** — [site de l'initiative](https://exemple.fr/vendee)
- **\\[2\\] Fiche nantes › Contexte** — [site de l'initiative](https://exemple.fr/nantes)

## 3. Et à Nantes ?

> Erreur : moteur indisponible

### Sources citées
- **\\[1\\] Fiche brest › Contexte** — [site de l'initiative](https://exemple.fr/brest)

### Aussi retrouvés
- **\\[2\\] Fiche nantes › Contexte** — [site de l'initiative](https://exemple.fr/nantes)
"""


def test_markdown_neutralises_markup_from_the_model_the_corpus_and_the_user(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    conv = store.create_conversation(LOCAL_USER)
    turn = store.add_turn(conv.id, LOCAL_USER, hostile())
    store.add_feedback(turn.id, LOCAL_USER, "down", [], "voir <a href=javascript:x>ici</a>")
    text = conversation_markdown(store.get_conversation(conv.id, LOCAL_USER))
    assert not unescaped_markup(OUR_LINK.sub("", text)), text  # no HTML tag, no link but ours
    assert "](javascript:" not in text.replace("\\]", "") and "site de l'initiative (javascript:alert(4))" in text
    assert "**important**" in text  # the answer's harmless formatting is kept
    assert HOSTILE_ANSWER in unescape(text) and "Commune : <i>Brest</i>" in unescape(text)  # nothing lost
    assert "Fiche *brest* <script>x</script>" in unescape(text) and "<a href=javascript:x>ici</a>" in unescape(text)


def test_header_when_the_title_is_not_known() -> None:
    text = turns_markdown([ExportTurn(answer("Quoi ?"))], exported_at=WHEN)
    assert text.startswith("# Conversation — catalogue des initiatives d'accueil\n\n"
                           "Exportée le 2026-01-02 03:04 UTC (moteur : extractive).\n\n## 1. Quoi ?\n")
    assert turns_markdown([], exported_at=WHEN).endswith("Exportée le 2026-01-02 03:04 UTC.\n")


def test_json_document_holds_every_stored_field(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    conv = store.create_conversation(LOCAL_USER)
    first = store.add_turn(conv.id, LOCAL_USER, answer("Initiatives à Brest ?"),
                           Timings(first_token_ms=50, total_ms=400))
    store.add_feedback(first.id, LOCAL_USER, "down", ["Incomplet"], "il manque Quimper")
    document = json.loads(json.dumps(conversation_json(store.get_conversation(conv.id, LOCAL_USER))))
    assert document["id"] == conv.id and len(document["turns"]) == 1
    assert document["turns"][0]["timings"] == {"first_token_ms": 50.0, "total_ms": 400.0}
    assert document["turns"][0]["feedback"]["reasons"] == ["Incomplet"]
