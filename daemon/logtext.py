"""File names and paths in log lines: always one line, whatever the name holds.

A file name may hold a newline or another control character (`touch $'a\\nERROR x.mp4'`
works on Linux); logged as is, it would forge a log line of its own. Every name, path or
message that may carry one goes through `one_line` before it reaches a log call.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Undecodable bytes of a name (os.fsdecode's surrogateescape) show as `\xNN`, the way
# the inbox stores such names.
_SURROGATE_BYTES = range(0xDC80, 0xDD00)


def one_line(value: object) -> str:
    """`str(value)` with every character that is not printable escaped as repr() does
    (`\\n`, `\\x1b`, `\\u2028`); a backslash already in the name is kept as it is."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(_escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    if ch.isprintable():
        return ch
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code in _SURROGATE_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
