"""Prompt templates (``prompts/*.md``) and the token-budgeted messages sent to LLM backends.

Templates are plain Markdown a non-programmer can edit: HTML comments (``<!-- … -->``)
are documentation and are stripped; ``{name}`` is a placeholder. Only the names listed
in :data:`TEMPLATES` are allowed, any other ``{word}`` is a :class:`ConfigError` naming
the file, so a typo is caught at load time rather than sent to the model. Other braces
(``{ }``, JSON) are left alone, and values are substituted in one pass so a passage
containing ``{question}`` stays literal.

Passages are wrapped as data between ``<passages>`` and ``</passages>`` (one
``<passage n="…">`` each); passage text cannot close those tags because any tag-like
``<passage…`` / ``</passage…`` inside it is escaped.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError
from rag.tokens import count_tokens, truncate_tokens
from rag.types import Passage

TEMPLATES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "system.md": (frozenset(), frozenset()),
    "user.md": (frozenset({"question", "passages", "nb_passages"}), frozenset({"question", "passages"})),
    "rewrite.md": (frozenset({"conversation", "question"}), frozenset({"conversation", "question"})),
    "abstain.md": (frozenset({"question", "raison", "initiatives"}), frozenset()),
    "hyde.md": (frozenset({"question"}), frozenset({"question"})),
}
"""File name -> (allowed placeholders, required placeholders)."""
OPTIONAL = frozenset({"hyde.md"})
"""Templates that may be absent: their feature is then off (``hyde.md``: rag.answer.hyde)."""

PASSAGES_OPEN, PASSAGES_CLOSE = "<passages>", "</passages>"
SAFETY = 0.9
"""Share of the window we fill: tiktoken's cl100k only estimates other models' tokenizers."""
MESSAGE_OVERHEAD = 16
"""Tokens the chat format adds around the two messages (role markers, priming)."""
MIN_PASSAGE_TOKENS = 24
"""Below this, a truncated first passage is not worth sending."""
MIN_ANSWER_TOKENS = 128
"""``max_tokens`` is never capped below this to make room for the prompt."""

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DELIMITER = re.compile(r"<(\s*/?\s*passages?\b)", re.I)


@dataclass(frozen=True)
class Template:
    """One loaded template; :meth:`render` fills every placeholder in one pass."""

    name: str
    text: str

    def render(self, **values: object) -> str:
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), self.text).strip()


@dataclass(frozen=True)
class Prompts:
    """The templates of ``prompts/`` (``hyde`` is optional)."""

    system: Template
    user: Template
    rewrite: Template
    abstain: Template
    hyde: Template | None = None


@dataclass(frozen=True)
class PromptBuild:
    """The messages for the backend and the passages that fit in the budget."""

    messages: list[dict[str, str]]
    passages: list[Passage]
    dropped: int
    max_tokens: int
    """The answer budget: the one asked, or less when the window could not hold it."""


def load_template(path: Path) -> Template:
    """Read, strip comments, and check the placeholders of one template file."""
    allowed, required = TEMPLATES[path.name]
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"modèle de prompt manquant : {path} (vérifiez RAG_PROMPTS_DIR)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"modèle de prompt illisible : {path} ({exc})") from None
    text = _COMMENT.sub("", raw)
    if "<!--" in text:
        raise ConfigError(f"{path} : commentaire « <!-- » jamais fermé par « --> »")
    used = set(_PLACEHOLDER.findall(text))
    for name in sorted(used - allowed):
        valid = ", ".join(f"{{{n}}}" for n in sorted(allowed)) or "aucun"
        raise ConfigError(f"{path} : champ inconnu {{{name}}} (champs possibles : {valid})")
    for name in sorted(required - used):
        raise ConfigError(f"{path} : le champ obligatoire {{{name}}} est absent")
    if not text.strip():
        raise ConfigError(f"{path} : le modèle est vide")
    return Template(path.name, text.strip())


def prompt_paths(prompts_dir: Path) -> list[Path]:
    """The template files of ``prompts_dir``, in :data:`TEMPLATES` order."""
    return [Path(prompts_dir) / name for name in TEMPLATES]


def load_prompts(prompts_dir: Path) -> Prompts:
    """The templates of ``prompts_dir`` (the caller caches them: see ``Services.prompts``)."""
    found = {path.name: load_template(path) for path in prompt_paths(prompts_dir)
             if path.name not in OPTIONAL or path.exists()}
    return Prompts(found["system.md"], found["user.md"], found["rewrite.md"], found["abstain.md"], found.get("hyde.md"))


def neutralise(text: str) -> str:
    """Escape anything that looks like our delimiters so passage text cannot close them."""
    return _DELIMITER.sub(r"&lt;\1", text)


def format_passage(passage: Passage, text: str | None = None) -> str:
    """``<passage n="1">`` / ``[1] Titre › Section`` / text / ``</passage>``."""
    body = neutralise(passage.chunk.text if text is None else text)
    return f'<passage n="{passage.n}">\n{neutralise(passage.label)}\n{body}\n</passage>'


def format_passages(passages: list[Passage], texts: dict[int, str] | None = None) -> str:
    """The whole data block between ``<passages>`` and ``</passages>``."""
    texts = texts or {}
    inner = "\n\n".join(format_passage(p, texts.get(p.n)) for p in passages)
    return f"{PASSAGES_OPEN}\n{inner}\n{PASSAGES_CLOSE}"


def build_messages(
    question: str, passages: list[Passage], prompts: Prompts, *, context_window: int, max_tokens: int,
    safety: float = SAFETY,
) -> PromptBuild:
    """System + user messages holding as many top-ranked passages as the window allows.

    Budget = (context_window - max_tokens) * safety - chat overhead; passages are added in
    rank order and the lowest-ranked ones are dropped first. When even the first passage
    does not fit whole, ``max_tokens`` is lowered to make room for it (down to
    :data:`MIN_ANSWER_TOKENS`), and failing that the passage is truncated. Raises
    :class:`ConfigError` when the window cannot even hold the instructions, the question
    and a short answer. ``safety`` < :data:`SAFETY` leaves more margin (a server that
    counts more tokens than tiktoken does).
    """
    system = prompts.system.render()

    def user_for(kept: list[Passage], texts: dict[int, str]) -> str:
        block = format_passages(kept, texts)
        return prompts.user.render(question=question, passages=block, nb_passages=len(kept))

    def total(kept: list[Passage], texts: dict[int, str]) -> int:
        return count_tokens(system) + count_tokens(user_for(kept, texts))

    base = total([], {})
    whole = count_tokens(format_passage(passages[0])) + 2 if passages else 0
    least = count_tokens(format_passage(passages[0], "")) + 2 + MIN_PASSAGE_TOKENS if passages else 0
    answer = _answer_budget(context_window, max_tokens, safety, base + whole, base + least)
    limit = int((context_window - answer) * safety) - MESSAGE_OVERHEAD
    if base + least > limit:
        raise ConfigError(
            f"fenêtre de contexte trop petite : RAG_CONTEXT_WINDOW={context_window} ne laisse pas "
            f"la place à une réponse de {answer} tokens plus les consignes et la question ({base} tokens)"
        )
    kept, texts, used = [], {}, base
    for passage in passages:
        cost = count_tokens(format_passage(passage)) + 2
        if used + cost <= limit:
            kept.append(passage)
            used += cost
            continue
        room = limit - used - count_tokens(format_passage(passage, "")) - 2
        if not kept and room >= MIN_PASSAGE_TOKENS:
            kept.append(passage)
            texts[passage.n] = truncate_tokens(passage.chunk.text, room - 4) + " […]"
        break
    while kept and total(kept, texts) > limit:  # sums of counts are an estimate: verify
        kept.pop()
    user = user_for(kept, texts)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    final = [_with_text(p, texts[p.n]) if p.n in texts else p for p in kept]
    return PromptBuild(messages, final, len(passages) - len(kept), answer)


def _answer_budget(window: int, max_tokens: int, safety: float, whole: int, least: int) -> int:
    """``max_tokens``, or less so that the prompt with the first passage whole (``whole``
    tokens) fits, but never below :data:`MIN_ANSWER_TOKENS`: then the passage is truncated
    instead, and the answer shrinks only as far as a prompt of ``least`` tokens needs."""
    def room(prompt: int) -> int:  # the largest answer leaving ``prompt`` tokens of prompt
        return window - math.ceil((prompt + MESSAGE_OVERHEAD + 1) / safety)

    if room(whole) >= max_tokens:
        return max_tokens
    if room(whole) >= MIN_ANSWER_TOKENS:
        return room(whole)
    return min(max_tokens, max(room(least), MIN_ANSWER_TOKENS))


def _with_text(passage: Passage, text: str) -> Passage:
    """A copy of the passage carrying the (truncated) text actually sent."""
    return passage.model_copy(update={"chunk": passage.chunk.model_copy(update={"text": text})})
