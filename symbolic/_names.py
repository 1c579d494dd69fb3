"""Names that reach generated code: the one check every user-given name passes where it enters ricci.

Variable names, dimension names, constant labels, and the names of compiled and exported functions are
written into Python source (``rs.compile``'s kernel, ``rs.export``'s module). Each is checked here when it
is made: a plain identifier, taken in the form Python itself reads it. Python normalizes identifiers with
NFKC when it parses source (PEP 3131), so ``ｘ`` (fullwidth) and ``x`` are one name in a kernel's
signature, and ``ｆｏｒ`` is the keyword ``for``; :func:`identifier` returns that normal form, so that two
names that Python would read as one are one name here as well. A label, which only appears in a comment,
goes through :func:`comment` instead.
"""

from __future__ import annotations

import keyword
import unicodedata


def identifier(name, what: str, *, keywords: bool = True) -> str:
    """``name`` in NFKC normal form if it is a Python identifier, else a ValueError naming ``what``.

    ``keywords=False`` refuses Python keywords (``for``, ``lambda``) as well, for names written where only
    an identifier may stand (a function's name); a variable may be called ``lambda``, the generated code
    renames it (see ``_codegen``).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{what} must be an identifier such as 'x' or 'W1', got {name!r}")
    normal = unicodedata.normalize("NFKC", name)
    if not normal.isidentifier():  # NFKC can leave an identifier's alphabet (rare, e.g. some Greek marks)
        raise ValueError(f"{what} must be an identifier such as 'x' or 'W1', got {name!r}, which Python reads "
                         f"as {normal!r}")
    if not keywords and keyword.iskeyword(normal):
        raise ValueError(f"{what} must be an identifier, not the Python keyword {normal!r}")
    return normal


def comment(text: str) -> str:
    """``text`` safe in a ``#`` comment of generated code: itself when it is a plain identifier, its
    ``repr`` otherwise (a newline or any other line break cannot end the comment)."""
    return text if text.isidentifier() else repr(text)
