"""Case libraries (典型案例库) for trainers: entries with write-ups copied from their cases, review and publishing,
edit history, coverage of types and districts with suggestions, near-duplicate checks, masked exports.

The names below are imported on first use, so ``import leian.library`` stays cheap.
"""
from __future__ import annotations

from leian.lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "Libraries": "leian.library.store",
    "LibraryError": "leian.library.store",
    "coverage": "leian.library.curation",
    "suggest": "leian.library.curation",
    "near_duplicates": "leian.library.curation",
    "export_library": "leian.library.export",
    "case_ids_in": "leian.library.case_ids",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
