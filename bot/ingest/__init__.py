"""Reading ICOPE et Moi exports into the work queue: detect, map, validate, quarantine.

::

    export (.xlsx / .csv)  ──► guard (.xlsx: part sizes, sheet extents; read in a child process)
        ──► detect (encoding, separator, header row)
        ──► map columns (mappings/icope_et_moi.yaml: headers, aliases, value synonyms)
        ──► scrub cells (invisible characters, bytes that are not text, sizes)
        ──► read cells column by column (dates, oui/non, numbers; each distinct value once)
        ──► SelfAssessment per row + the target's name rules ──► queue.enqueue (new / duplicate
            / conflict; out of programme or an id clash in the file → needs_review)
                                   └─► queue.quarantine     (invalid, with French reasons)
    unreadable file (inbox) ──► refused/ + <name>.raison.txt, and the next file goes on

Nothing is lost: a row that fails is quarantined with its raw cells and one sentence per problem
("Ligne 12, colonne « Date de naissance » : la date « 31/02/1950 » n'existe pas"). A file is
refused whole only when it cannot be read or a required column is missing.

Identity never reaches a log line: names are registered with :func:`bot.logs.register_pii` as they
are read, and only counts, file names and references are logged.
"""

# The public surface; the modules behind it follow the path of a file:
# _read (open, detect) → _mapping (headers) → _cells (typed values) → _rows (queue) → _inbox.
from bot.ingest._cells import SKIP, _CellReader, scrub_cell
from bot.ingest._guard import ReadLimits
from bot.ingest._inbox import LEDGER_NAME, inbox_files, ingest_inbox, refused_dir
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
from bot.ingest._rows import (
    CHUNK_ROWS,
    Progress,
    Summary,
    _name_errors,
    _why,
    ingest_file,
    summary_table,
)

#: Excel's own limit for one cell (a longer cell quarantines its row; Settings may lower it).
MAX_CELL_CHARS = ReadLimits().max_cell_chars

__all__ = [
    "CHUNK_ROWS",
    "EXTENSIONS",
    "FIELD_KINDS",
    "LEDGER_NAME",
    "MAPPING_FILE",
    "MAX_CELL_CHARS",
    "SKIP",
    "ColumnSpec",
    "Detected",
    "ExportMapping",
    "FileRefused",
    "Progress",
    "ReadLimits",
    "Summary",
    "ValueSynonyms",
    "_CellReader",  # bot.review reads corrected cells exactly as an export's
    "_cell_text",
    "_name_errors",  # bot.review checks a correction's names as ingestion does
    "_why",
    "inbox_files",
    "ingest_file",
    "ingest_inbox",
    "load_mapping",
    "normalize_header",
    "normalize_value",
    "refused_dir",
    "scrub_cell",
    "summary_table",
]
