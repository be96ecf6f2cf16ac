"""The case store and what goes into it: the record model and validation, normalisation, places, the dispute
taxonomy, readers and writers (JSONL, CSV, XLSX), ingest, the queries other packages run on the core tables,
the bundled sample and the scenario generator.

The names below are imported on first use, so ``import leian.data`` stays cheap.
"""
from __future__ import annotations

from leian.lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "Store": "leian.data.store",
    "Case": "leian.data.record",
    "RecordError": "leian.data.record",
    "validate": "leian.data.record",
    "ingest_records": "leian.data.ingest",
    "IngestReport": "leian.data.ingest",
    "read_records": "leian.data.readers",
    "write_records": "leian.data.readers",
    "Taxonomy": "leian.data.taxonomy",
    "generate_to_file": "leian.data.generate",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
