"""Citation verification: every ``[n]`` shown must point to a passage that was given.

Accepted forms: ``[1]``, ``[1][2]``, ``[1, 2]``, ``[1; 2]`` and ranges ``[1-3]``. Unknown
numbers are removed from the text (a group left empty disappears with the space before
it) and reported. :class:`CitationStream` does the same on streamed text: it holds back
only an unfinished tail (an open ``[``, or a word that may become a spam link), so what
is shown is exactly the final cleaned answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

_GROUP = re.compile(r"(?P<lead>[ \t]*)\[(?P<inner>\s*\d{1,3}\s*(?:(?:[,;]|-|–)\s*\d{1,3}\s*)*)\]")
_OPEN_TAIL = re.compile(r"[ \t]*\[[\d\s,;–-]{0,24}$")
_MAX_RANGE = 20
_MAX_HOLD = 2000
"""A tail without whitespace longer than this is released anyway."""


def _numbers(inner: str) -> list[int]:
    """``"1, 3-4"`` -> ``[1, 3, 4]`` (ranges bounded so ``[1-999]`` cannot explode)."""
    numbers: list[int] = []
    for part in re.split(r"[,;]", inner):
        bounds = [int(b) for b in re.split(r"-|–", part) if b.strip()]
        if len(bounds) == 2 and 0 <= bounds[1] - bounds[0] <= _MAX_RANGE:
            numbers.extend(range(bounds[0], bounds[1] + 1))
        else:
            numbers.extend(bounds)
    return numbers


@dataclass
class CitationCheck:
    """Cleaned text, valid numbers in order of first appearance, removed unknown numbers."""

    text: str = ""
    cited: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    def _clean(self, text: str, valid: Collection[int]) -> str:
        def replace(match: re.Match[str]) -> str:
            numbers = _numbers(match["inner"])
            keep = [n for n in dict.fromkeys(numbers) if n in valid]
            for n in numbers:
                bucket = self.cited if n in valid else self.removed
                if n not in bucket:
                    bucket.append(n)
            if keep:
                return match["lead"] + "".join(f"[{n}]" for n in keep)
            next_is_group = match.string[match.end() : match.end() + 1] == "["
            return match["lead"] if next_is_group else ""

        return _GROUP.sub(replace, text)


def verify_citations(text: str, valid: Collection[int]) -> CitationCheck:
    """Clean ``text`` against the given passage numbers ``valid``."""
    check = CitationCheck()
    check.text = check._clean(text, set(valid))
    return check


class CitationStream:
    """Incremental :func:`verify_citations`: ``feed`` chunks, then ``finish``.

    Text is released as soon as it is final: only an open citation group (``"[1, "``) is
    held back, and the word being written when ``hold(word)`` says it may still become
    something ``transform`` must see whole (a spam URL to mask). So ``transform`` gets
    whole held words and whole groups, and the first token is not delayed otherwise.
    """

    def __init__(self, valid: Collection[int], transform: Callable[[str], str] | None = None,
                 hold: Callable[[str], bool] | None = None) -> None:
        self.valid = set(valid)
        self.transform = transform or (lambda s: s)
        self.hold = hold or (lambda word: False)
        self.check = CitationCheck()
        self._pending = ""

    def _release(self, segment: str) -> str:
        cleaned = self.transform(self.check._clean(segment, self.valid))
        self.check.text += cleaned
        return cleaned

    def _cut(self) -> int:
        """How much of the pending text is final."""
        pending = self._pending
        cut = len(pending.rstrip(" \t"))  # a trailing blank may belong to a group to remove
        space = max(pending.rfind(" "), pending.rfind("\n"), pending.rfind("\t"))
        if self.hold(pending[space + 1:]):
            cut = space
        open_group = _OPEN_TAIL.search(pending)
        if open_group:
            cut = min(cut, open_group.start())
        for group in reversed(list(_GROUP.finditer(pending))):
            # never cut inside "[1, 2]", nor right after a group: "[8][1]" is cleaned as a whole
            if group.start() < cut < group.end() or group.end() == cut:
                cut = group.start()
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
