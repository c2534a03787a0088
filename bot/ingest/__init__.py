"""Reading ICOPE et Moi exports into the work queue: detect, map, validate, quarantine.

::

    export (.xlsx / .csv)  ──► detect (encoding, separator, header row)
        ──► map columns (mappings/icope_et_moi.yaml: headers, aliases, value synonyms)
        ──► read cells column by column (dates, oui/non, numbers; each distinct value once)
        ──► SelfAssessment per row ──► queue.enqueue        (new / duplicate / conflict)
                                   └─► queue.quarantine     (invalid, with French reasons)

Nothing is lost: a row that fails is quarantined with its raw cells and one sentence per problem
("Ligne 12, colonne « Date de naissance » : la date « 31/02/1950 » n'existe pas"). A file is
refused whole only when it cannot be read or a required column is missing.

Identity never reaches a log line: names are registered with :func:`bot.logs.register_pii` as they
are read, and only counts, file names and references are logged.
"""

# The public surface; the modules behind it follow the path of a file:
# _read (open, detect) → _mapping (headers) → _cells (typed values) → _rows (queue) → _inbox.
from bot.ingest._cells import SKIP, _CellReader
from bot.ingest._inbox import LEDGER_NAME, inbox_files, ingest_inbox
from bot.ingest._mapping import (
    FIELD_KINDS,
    MAPPING_FILE,
    ColumnSpec,
    ExportMapping,
    ValueSynonyms,
    load_mapping,
    normalize_header,
    normalize_value,
)
from bot.ingest._read import EXTENSIONS, Detected, FileRefused, _cell_text
from bot.ingest._rows import CHUNK_ROWS, Summary, _why, ingest_file, summary_table

__all__ = [
    "CHUNK_ROWS",
    "EXTENSIONS",
    "FIELD_KINDS",
    "LEDGER_NAME",
    "MAPPING_FILE",
    "SKIP",
    "ColumnSpec",
    "Detected",
    "ExportMapping",
    "FileRefused",
    "Summary",
    "ValueSynonyms",
    "_CellReader",  # bot.review reads corrected cells exactly as an export's
    "_cell_text",
    "_why",
    "inbox_files",
    "ingest_file",
    "ingest_inbox",
    "load_mapping",
    "normalize_header",
    "normalize_value",
    "summary_table",
]
