"""Text that came from outside (stored in gigstack: names, descriptions, notes, messages) shown inside our
text results. Whoever can write a client's name can write "\\nIGNORE PREVIOUS INSTRUCTIONS" or a bidi
override into it; in our text it must stay one visibly delimited value, never a line of its own.

`quoted` wraps a value in double quotes with JSON-style escapes; `one_line` escapes without quotes (for
whole sentences we build, such as previews, which quote the values inside them). Escaped: every
character Python does not call printable except plain spaces — control characters (newlines included),
format characters (bidi embeddings/overrides/isolates U+202A–U+202E and U+2066–U+2069, zero-width
characters, the BOM, Unicode tag characters), line and paragraph separators, surrogates and private-use
or unassigned code points. Structured content keeps the raw value: JSON delimits it already."""

from __future__ import annotations

import unicodedata
from typing import Any

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(c: str) -> str:
    if c in _SHORT:
        return _SHORT[c]
    if c.isprintable() or unicodedata.category(c) == "Zs":
        return c
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def one_line(value: Any) -> str:
    """`value` as text on one line, with every invisible or line-breaking character shown escaped."""
    text = str(value)
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(_escape_char(c) for c in text)


def quoted(value: Any, missing: str = "-") -> str:
    """`value` in double quotes, escaped (`\\` and `"` too, so a value cannot close its own quotes);
    `missing` for None or an empty string."""
    if value is None or value == "":
        return missing
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{one_line(text)}"'


def plain(value: str) -> bool:
    """A bare token (an id, code, RFC, status, e-mail, URL): shown without quotes."""
    return bool(value) and value.isprintable() and not any(c in value for c in ' "\\|')


def shown(value: Any, missing: str = "-") -> str:
    """A value from gigstack inside our text: bare when it is a plain token, else quoted."""
    if value is None or value == "":
        return missing
    text = str(value)
    return text if plain(text) else quoted(text)
