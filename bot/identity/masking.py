"""Masking of names for display to merchants and on the pass page.

Invariant: a masked name keeps the first character and, for names of three or more characters,
the last one; everything between becomes ``*`` (one per character). ``张三明`` -> ``张*明``,
``张三`` -> ``张*``, ``欧阳娜娜`` -> ``欧**娜``.
"""

from __future__ import annotations


def mask_name(name: str) -> str:
    """The masked form of ``name``."""
    name = name.strip()
    if len(name) <= 1:
        return name + "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
