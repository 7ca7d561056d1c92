"""Citation verification: every ``[n]`` shown must point to a passage that was given.

Models cite their own way; every common form becomes ``[n]``:

* ``[1]``, ``[1][2]``, ``[1, 2]``, ``[1; 2]``, ``[1 et 2]``, ranges ``[1-3]``;
* a label inside brackets or parentheses: ``[Source 1]``, ``[passage n° 2]``,
  ``(passage 1)``, ``(sources 1 et 3)`` -> ``[1]``, ``[1][3]``;
* footnotes ``[^1]`` and full-width brackets ``【1】``, ``【1†source】``, ``［1］``;
* a bare label ``Passage 1`` / ``source 2`` keeps its word: ``passage [1]``, so
  « selon la source 2, … » still reads well. A bare label counts only when the number is
  followed by punctuation, a bracket, a line end or the end, so « le passage 2 fois par
  mois » quoted from a fiche is left alone.

Unknown numbers are removed from the text (a group left empty disappears with the space
before it; a bare label keeps its word) and reported. With ``renumber``, the passages
cited are shown numbered in order of first citation: the first one cited is ``[1]``
(the sources are renumbered the same way: :func:`rag.answer.sources.order_sources`). :class:`CitationStream` does the
same on streamed text: it holds back only what may still become a citation (an open
``[``, a ``Pass`` that may become ``Passage 1``, a citation that may go on) or a word that
may become a spam link, so what is shown is exactly the final cleaned answer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import regex

_NUM = r"\d{1,3}(?!\d)"
_JOIN = r"\s*(?:[,;&]|et|and|[-–]|à|to)\s*"
_KEY = r"(?:sources?|passages?)"
_LABEL = rf"{_KEY}\s*(?:n°|no\.|\#)?\s*:?\s*"
_LIST = rf"(?:{_LABEL})?{_NUM}(?:{_JOIN}(?:{_LABEL})?{_NUM})*"
_AFTER_BARE = r"(?=[ \t]*(?:[.,;:!?)\]»\n]|$|\[))"

CITATION = regex.compile(
    r"(?P<lead>[ \t]*)(?:"
    rf"\[\s*\^?\s*(?P<square>{_LIST})\s*\]"
    rf"|[【［]\s*(?P<wide>{_LIST})\s*(?:†[^】］\n]{{0,40}})?[】］]"
    rf"|\(\s*(?P<paren>{_LABEL}{_NUM}(?:{_JOIN}(?:{_LABEL})?{_NUM})*)\s*\)"
    rf"|(?<!\w)(?P<word>{_KEY})\s+(?:n°\s*)?(?P<bare>{_NUM}(?:{_JOIN}{_NUM})*){_AFTER_BARE}"
    r")",
    regex.IGNORECASE,
)
"""One citation in any accepted form, with the blanks before it (``lead``)."""

_MORE = regex.compile(rf"{_JOIN}{_NUM}", regex.IGNORECASE)
"""What may extend a bare citation: ``passage 1`` may become ``passage 1, 2``."""
_TOKEN = regex.compile(r"\d{1,3}|[-–]|\bà\b|\bto\b", regex.IGNORECASE)
_MAX_RANGE = 20
_TAIL = 80
"""How far back an unfinished citation is looked for at the end of the streamed text."""
_MAX_HOLD = 2000
"""A tail without whitespace longer than this is released anyway."""


def _numbers(inner: str) -> list[int]:
    """``"1, 3-4"`` -> ``[1, 3, 4]`` (ranges bounded so ``[1-999]`` cannot explode)."""
    numbers: list[int] = []
    in_range = False
    for token in _TOKEN.findall(inner):
        if not token[0].isdigit():
            in_range = bool(numbers)
            continue
        n = int(token)
        if in_range and 0 < n - numbers[-1] <= _MAX_RANGE:
            numbers.extend(range(numbers[-1] + 1, n + 1))
        else:
            numbers.append(n)
        in_range = False
    return numbers


@dataclass
class CitationCheck:
    """Cleaned text, valid numbers (as given) in order of first appearance, removed
    unknown numbers; with ``renumber`` the text shows ``cited[i]`` as ``[i + 1]``."""

    text: str = ""
    cited: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    renumber: bool = False

    def shown(self, n: int) -> int:
        """How the valid passage number ``n`` is written in the text."""
        return self.cited.index(n) + 1 if self.renumber else n

    def _replace(self, match: regex.Match[str], valid: Collection[int]) -> str:
        inner = match["square"] or match["wide"] or match["paren"] or match["bare"]
        numbers = _numbers(inner)
        keep = [n for n in dict.fromkeys(numbers) if n in valid]
        for n in numbers:
            bucket = self.cited if n in valid else self.removed
            if n not in bucket:
                bucket.append(n)
        cites = "".join(f"[{self.shown(n)}]" for n in keep)
        if match["word"]:
            return match["lead"] + match["word"] + (" " + cites if cites else "")
        if cites:
            return match["lead"] + cites
        following = CITATION.match(match.string, match.end())
        glued = following is not None and not following["lead"] and not following["word"]
        return match["lead"] if glued else ""

    def _clean(self, text: str, valid: Collection[int], start: int = 0) -> str:
        """``text[start:]`` cleaned; ``text[:start]`` is only context (what came before)."""
        out: list[str] = []
        last = start
        for match in CITATION.finditer(text, start):
            out += [text[last:match.start()], self._replace(match, valid)]
            last = match.end()
        out.append(text[last:])
        return "".join(out)


def verify_citations(text: str, valid: Collection[int], *, renumber: bool = False) -> CitationCheck:
    """Clean ``text`` against the given passage numbers ``valid``."""
    check = CitationCheck(renumber=renumber)
    check.text = check._clean(text, set(valid))
    return check


class CitationStream:
    """Incremental :func:`verify_citations`: ``feed`` chunks, then ``finish``.

    Text is released as soon as it is final: only what may still become (or extend) a
    citation is held back, and the word being written when ``hold(word)`` says it may
    still become something ``transform`` must see whole (a spam URL to mask). So
    ``transform`` gets whole held words and whole citations, and the first token is not
    delayed otherwise.
    """

    def __init__(self, valid: Collection[int], transform: Callable[[str], str] | None = None,
                 hold: Callable[[str], bool] | None = None, *, renumber: bool = False) -> None:
        self.valid = set(valid)
        self.transform = transform or (lambda s: s)
        self.hold = hold or (lambda word: False)
        self.check = CitationCheck(renumber=renumber)
        self._pending = ""
        self._before = ""  # the last character released, raw: ``ressource 2`` is no citation

    def _release(self, segment: str) -> str:
        cleaned = self.transform(self.check._clean(self._before + segment, self.valid, len(self._before)))
        self._before = segment[-1:] or self._before
        self.check.text += cleaned
        return cleaned

    def _cut(self) -> int:
        """How much of the pending text is final."""
        pending, before = self._pending, self._before
        text, offset = before + pending, len(before)
        cut = len(pending.rstrip(" \t"))  # a trailing blank may belong to a citation to remove
        space = max(pending.rfind(" "), pending.rfind("\n"), pending.rfind("\t"))
        if self.hold(pending[space + 1:]):
            cut = space
        for start in range(max(0, len(pending) - _TAIL), len(pending)):  # an unfinished citation
            match = CITATION.match(text, offset + start, partial=True)
            if match is not None and match.partial:
                cut = min(cut, start)
                break
        for match in reversed(list(CITATION.finditer(text, offset))):
            begin, end = match.start() - offset, match.end() - offset
            may_go_on = bool(match["word"]) and _MORE.fullmatch(pending[end:], partial=True) is not None
            # never cut inside "[1, 2]", nor right after a citation: "[8][1]" is cleaned as a whole
            if begin < cut < end or end == cut or (end < cut and may_go_on):
                cut = begin
        return cut if cut > 0 or len(pending) < _MAX_HOLD else len(pending)

    def feed(self, chunk: str) -> str:
        """Add streamed text; return the part that is safe to show now (maybe ``""``)."""
        self._pending += chunk
        cut = self._cut()
        if cut <= 0:
            return ""
        segment, self._pending = self._pending[:cut], self._pending[cut:]
        return self._release(segment)

    def finish(self) -> str:
        """Release whatever is held back; the result is in :attr:`check`."""
        segment, self._pending = self._pending, ""
        return self._release(segment) if segment else ""
