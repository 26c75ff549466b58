"""Folding names for search: the one definition of "the same letters".

`fold` maps a name to the form search compares: case folded (``"Straße"``
-> ``"strasse"``), accents removed (``"Résumé"`` -> ``"resume"``, whether the
name came NFC from Linux or NFD from macOS) and compatibility forms unified
(the ligature ``"\ufb01"`` -> ``"fi"``, full-width ``"\uff21"`` -> ``"a"``).  A query matches a name
when the query's fold is a substring of the name's fold.  The database keeps
each node's fold beside its name (migration 0011), so changing this function
changes what stored rows mean: ship it with a migration that sets every
``name_fold`` to NULL, and the server refolds them at start-up.
"""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """*text* case-folded, without accents, NFC (see the module docstring)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare)
