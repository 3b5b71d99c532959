"""Text from files made safe to show on a terminal.

Column names, class labels and metadata strings come from files anyone may
have written. Shown raw, a control character in them drives the terminal:
``ESC[2J`` clears the screen, ``ESC]0;...BEL`` retitles the window, ``\\r``
overwrites what was printed, a bidi override (U+202E) reverses what follows.
:func:`shown` writes every such character as a visible escape (``\\x1b``,
``\\u202e``, ``\\n``), so the text prints as inert characters; rich markup in it is a
separate matter, handled by printing it as :class:`rich.text.Text` (see
:func:`text`), never as a markup string.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls, DEL, C1 controls (0x9b is a one-byte CSI), the bidi embeddings, overrides and
# isolates and the marks that reorder what follows, and the Unicode line and paragraph
# separators (some terminals break the line there).
_OTHERS = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f{_OTHERS}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHERS}]")
_UNSAFE_IN_JSON = re.compile(f"[{_OTHERS}]")  # json.dumps escapes C0 itself; C0 outside strings is layout


_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def shown(value: object) -> str:
    """``value`` as text whose every control character is written as an escape.

    Parameters
    ----------
    value : object
        Any value; ``str(value)`` is what is shown.

    Returns
    -------
    str
        The text with C0 and C1 controls, DEL, bidi controls and line
        separators (newlines included) as ``\\x1b``-style escapes.
    """
    return _UNSAFE.sub(_escape, str(value))


def shown_lines(value: object) -> str:
    """Like :func:`shown`, but keeps newlines: for whole messages that are meant to span lines."""
    return _UNSAFE_BUT_NEWLINE.sub(_escape, str(value))


def json_text(document: str) -> str:
    """JSON text with the controls ``json.dumps(ensure_ascii=False)`` leaves raw (DEL, C1, bidi) as ``\\u`` escapes.

    Such characters can only stand inside JSON strings, where the escape means the same character.
    """
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", document)


def text(value: object, style: str = "") -> Text:
    """``value`` as a rich :class:`~rich.text.Text` (never parsed as markup), controls escaped."""
    return Text(shown(value), style=style)


__all__ = ["json_text", "shown", "shown_lines", "text"]
