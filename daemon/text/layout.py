"""The shape of a description: blocks of lines, a quoted transcript, and fitting to a budget.

Each line carries a drop rank: under a tight token budget, lines with the highest rank
go first (rank 0 is never dropped), and the transcript is shortened only after every
droppable measurement is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from daemon.text.fmt import estimate_tokens

DROPPED_NOTE = "Some measurements were left out to fit the length limit."
# Block titles of the descriptions and the short section names reports use for them.
SECTION_NAMES = {
    "About": "about",
    "Video": "video",
    "How it was said": "voice",
    "Face": "face",
    "Body and framing": "body",
    "What was said": "transcript",
}


@dataclass(frozen=True)
class Line:
    """One sentence of a block; `drop` is its rank for trimming (0 = always kept)."""

    text: str
    drop: int = 0


@dataclass
class Block:
    """A titled group of lines."""

    title: str
    lines: list[Line] = field(default_factory=list)

    def add(self, text: str | None, drop: int = 0) -> None:
        """Append a sentence unless it is empty."""
        if text:
            self.lines.append(Line(text, drop))


@dataclass(frozen=True)
class Transcript:
    """The quoted words, with the sentence that introduces them."""

    intro: str
    words: tuple[str, ...]
    after: str = ""


@dataclass
class Layout:
    """Blocks in order; the transcript goes after block number `transcript_at`."""

    blocks: list[Block]
    transcript: Transcript | None = None
    transcript_at: int = 1

    def render(self, kept_words: int | None = None, note: bool = False) -> str:
        """The text, keeping `kept_words` transcript words (all when None)."""
        parts = [_render_block(b) for b in self.blocks[: self.transcript_at]]
        if self.transcript is not None:
            parts.append(_render_transcript(self.transcript, kept_words))
        parts += [_render_block(b) for b in self.blocks[self.transcript_at :]]
        if note:
            parts.append(DROPPED_NOTE)
        return "\n\n".join(p for p in parts if p)

    def fit(self, max_tokens: int) -> str:
        """Render within `max_tokens`: drop ranked lines first, shorten the transcript last."""
        text = self.render()
        ranks = sorted({ln.drop for b in self.blocks for ln in b.lines if ln.drop}, reverse=True)
        dropped = False
        for rank in ranks:
            if estimate_tokens(text) <= max_tokens:
                return text
            for block in self.blocks:
                block.lines = [ln for ln in block.lines if ln.drop != rank]
            dropped = True
            text = self.render(note=dropped)
        if estimate_tokens(text) <= max_tokens or self.transcript is None:
            return text
        return self.render(self._words_that_fit(max_tokens, dropped), note=dropped)

    def _words_that_fit(self, max_tokens: int, note: bool) -> int:
        lo, hi = 0, len(self.transcript.words) if self.transcript else 0
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if estimate_tokens(self.render(mid, note)) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        return lo


def _render_block(block: Block) -> str:
    if not block.lines:
        return ""
    if len(block.lines) == 1:
        return f"{block.title}: {block.lines[0].text}"
    return block.title + ":\n" + "\n".join(f"- {ln.text}" for ln in block.lines)


def _render_transcript(transcript: Transcript, kept: int | None) -> str:
    text = _render_quote(transcript, kept)
    return f"{text}\n{transcript.after}" if transcript.after else text


def _render_quote(transcript: Transcript, kept: int | None) -> str:
    words = transcript.words if kept is None else transcript.words[:kept]
    if not transcript.words:
        return transcript.intro
    quote = " ".join(words)
    if kept is not None and kept < len(transcript.words):
        shown = f"{kept} of {len(transcript.words)}"
        quote = f"{quote} [...]" if quote else "[...]"
        return f'{transcript.intro}\n"{quote}" (shortened to {shown} words to fit the length limit)'
    return f'{transcript.intro}\n"{quote}"'


SHORTENED = re.compile(r"\(shortened to (\d+) of (\d+) words to fit the length limit\)")


def shortened_words(text: str) -> tuple[int, int] | None:
    """(words kept, words said) when the text's transcript was cut to fit, else None."""
    match = SHORTENED.search(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def section_of(paragraph: str) -> str | None:
    """The section name of one rendered paragraph, or None (e.g. the trimming note)."""
    for title, name in SECTION_NAMES.items():
        if paragraph.startswith((f"{title}:", f"{title} (")):
            return name
    return None


def split_sections(text: str) -> list[tuple[str | None, str]]:
    """A rendered description as (section name, paragraph) pairs, in order."""
    return [(section_of(p), p) for p in text.split("\n\n") if p]


def without_section(text: str, section: str) -> str:
    """The description with every paragraph of `section` removed."""
    return "\n\n".join(p for name, p in split_sections(text) if name != section)
