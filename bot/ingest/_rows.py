"""Rows → SelfAssessment or French reasons; one file into the queue; the summary."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from bot.ingest._cells import (
    SKIP,
    _ColumnReader,
    _map_columns,
    mojibake,
    scrub_cell,
    scrub_column,
)
from bot.ingest._guard import ReadLimits
from bot.ingest._mapping import ExportMapping, load_mapping
from bot.ingest._plain import PlainRows
from bot.ingest._read import FileRefused, _open, _Source
from bot.logs import logger, mask, register_pii
from bot.models import DOMAINS, HearingTest, ItemState, NameRules, SelfAssessment

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from bot.workqueue import ItemView, WorkQueue


CHUNK_ROWS = 20_000  # rows parsed, validated and enqueued together (one transaction)

#: ``progress(step, rows done, rows expected or None)``: how long work reports how far it is;
#: :class:`bot.console.RowProgress` draws it. Called once per chunk.
Progress = Callable[[str, int, int | None], None]
PROGRESS_EVERY = 2_000  # rows between two progress calls within a chunk


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}".replace(".", ",")
    if isinstance(v, date):
        return f"{v:%d/%m/%Y}"
    if isinstance(v, bool):
        return "Oui" if v else "Non"
    return str(v)


_RESULT_FIELDS = {
    HearingTest.WHISPER.value: "hearing_whisper_passed",
    HearingTest.HEARWHO.value: "hearing_score",
    HearingTest.AUDIOMETRY.value: "hearing_audiometry_db",
}
_TEST_LABELS = {
    "aucun": "Aucun",
    "chuchotement": "Chuchotement",
    "hearwho": "hearWHO",
    "audiometrie": "Audiométrie",
}


class _RowJudge:
    """Explains why a row was refused, in sentences naming the file's own column headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = dict(headers)  # field key → header as written in the file
        if "source_id" in headers:
            self.headers["reference"] = headers["source_id"]  # the reference is built from it

    def column(self, key: str) -> str:
        return f"colonne « {self.headers[key]} »" if key in self.headers else ""

    def sentence(self, row: int, key: str | None, reason: str) -> str:
        where = self.column(key) if key else ""
        return f"Ligne {row}, {where} : {reason}" if where else f"Ligne {row} : {reason}"

    def explain(
        self, row: int, exc: ValidationError, answers: dict[str, Any], unreadable: set[str]
    ) -> list[str]:
        out = []
        for err in exc.errors(include_url=False):
            loc = [p for p in err["loc"] if isinstance(p, str)]
            key = ".".join(loc)
            if err["type"] == "missing" and key in unreadable:
                continue  # already explained: the cell was there but could not be read
            if key == "answers" and "audition" in err["msg"]:
                out.append(self._hearing(row, answers))
                continue
            if not key and "date de naissance" in str(err.get("ctx", {}).get("error", "")):
                key = "identity.birth_date"  # a rule between two dates: the birth date is named
            out.append(self.sentence(row, key if key in self.headers else None, _why(err)))
        return out

    def _hearing(self, row: int, answers: dict[str, Any]) -> str:
        test = answers.get("hearing_test", HearingTest.NONE.value)
        label = _TEST_LABELS.get(test, test)
        expected = _RESULT_FIELDS.get(test)
        for name in _RESULT_FIELDS.values():
            key = f"answers.{name}"
            if name != expected and answers.get(name) is not None:
                return self.sentence(
                    row,
                    key,
                    f"un résultat (« {_fmt(answers[name])} ») est donné alors que le test "
                    f"d'audition indiqué est « {label} »",
                )
        key = f"answers.{expected}"
        col = self.headers.get(key, key)
        return self.sentence(
            row,
            "answers.hearing_test",
            f"le test d'audition est « {label} » mais la colonne « {col} » est vide",
        )


def _why(err: Any) -> str:
    """One pydantic error as a French reason (models' own messages are already French)."""
    kind, inp, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    match kind:
        case "missing" | "too_short" | "string_too_short":
            return "la cellule est vide alors qu'elle est obligatoire"
        case "value_error":
            return str(ctx.get("error", err["msg"]))
        case "greater_than_equal" | "greater_than":
            bound = ctx.get("ge", ctx.get("gt"))
            if bound == 0 and isinstance(inp, int | float) and inp < 0:
                return f"la valeur « {_fmt(inp)} » est négative, ce qui est impossible ici"
            return f"la valeur « {_fmt(inp)} » est trop petite (au moins {_fmt(bound)})"
        case "less_than_equal" | "less_than":
            bound = ctx.get("le", ctx.get("lt"))
            return f"la valeur « {_fmt(inp)} » est trop grande (au plus {_fmt(bound)})"
        case "string_too_long":
            return f"le texte est trop long ({ctx.get('max_length')} caractères au plus)"
        case "too_long":  # a list: the birth first names
            what = "prénoms" if tuple(err["loc"][-1:]) == ("first_names",) else "valeurs"
            return (
                f"la cellule donne {ctx.get('actual_length', 'trop de')} {what}, "
                f"{ctx.get('max_length')} au plus"
            )
    return f"valeur « {_fmt(inp)} » refusée ({err['msg']})"


# --------------------------------------------------------------------------------------------
# Ingesting a file into the queue
# --------------------------------------------------------------------------------------------


@dataclass
class Summary:
    """What one ingestion did, for a person (rich table) or a program (JSON)."""

    file: str
    detected: str = ""
    read: int = 0  # data rows read (blank rows not counted)
    new: int = 0
    duplicates: int = 0  # already in the queue, same content: nothing added
    conflicts: int = 0  # already in the queue with other content: flagged, not overwritten
    invalid: int = 0  # quarantined with reasons
    fixed: int = 0  # quarantined by an earlier export, valid in this one: now pending
    refused: str | None = None  # why the whole file was refused (then nothing else happened)
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    archived_as: str | None = None  # inbox only
    to_review: int = 0  # new, but out of the programme: waiting for a person (age under 60)
    refused_as: str | None = None  # inbox only: its name in refused/ (beside a .raison.txt)
    already_ingested: bool = False  # inbox only: same content ingested before, skipped
    #: The reasons of each quarantined row ("Ligne N, colonne « … » : …"), masked (dates,
    #: contacts): for the terminal.
    quarantined: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.refused is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _reference_hash(a: SelfAssessment) -> str:
    """Stable over re-exports: identity + assessment date + answers (not the app's alerts)."""
    payload = a.model_dump(mode="json", include={"identity", "assessed_on", "answers"})
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _raw_hash(raw: dict[str, str]) -> str:
    blob = json.dumps(list(raw.values()), ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_PII_KEYS = (
    "identity.birth_name",
    "identity.first_names",
    "identity.used_name",
    "identity.used_first_name",
)


def ingest_file(
    path: Path | str,
    queue: WorkQueue,
    mapping: ExportMapping | None = None,
    *,
    source: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    xlsx_engine: str | None = None,
    limits: ReadLimits | None = None,
    name_rules: NameRules | None = None,
    progress: Progress | None = None,
    parallel: bool | None = None,
) -> Summary:
    """Validate every row of an export and queue it (valid) or quarantine it (invalid).

    Never raises for what the file holds: a file that cannot be read comes back with
    ``summary.refused`` saying why in French (the Excel reader runs in a child process, so even
    a native crash in it ends here). ``parallel``: parse in a forked process while this one
    writes to the queue; by default for files of :data:`PARALLEL_MIN_BYTES` and more.
    """
    path = Path(path)
    mapping = mapping or load_mapping()
    limits = limits or ReadLimits()
    source = source or path.name
    summary = Summary(file=path.name)
    started = time.perf_counter()
    try:
        src = _open(path, mapping, chunk_rows, xlsx_engine, limits)
    except FileRefused as e:
        summary.refused = f"Fichier « {path.name} » refusé : {e.message}."
    except FileNotFoundError:
        summary.refused = f"Fichier « {path.name} » introuvable."
    except (OSError, UnicodeError, csv.Error, pd.errors.ParserError) as e:
        summary.refused = f"Fichier « {path.name} » illisible ({type(e).__name__})."
    except (Exception, MemoryError) as e:  # a reader bug must not stop the files after this one
        # The type only: a traceback's variables could hold a cell of the file (health data).
        logger.error("lecture de {} : erreur inattendue {}", path.name, type(e).__name__)
        summary.refused = (
            f"Fichier « {path.name} » illisible (erreur inattendue {type(e).__name__})."
        )
    else:
        summary.detected = src.detected.describe()
        try:
            _ingest_rows(
                src,
                queue,
                mapping,
                source,
                summary,
                limits,
                name_rules or NameRules(),
                progress,
                _parallel_by_default(path) if parallel is None else parallel,
            )
        except FileRefused as e:
            summary.refused = f"Fichier « {path.name} » refusé : {e.message}."
            if summary.read:  # a malformed line far down: the rows before it were queued
                summary.refused += (
                    f" Les {summary.read} lignes lues avant ont été traitées ; corrigez le fichier"
                    " et ingérez-le à nouveau (rien ne sera ajouté deux fois)."
                )
        finally:
            src.close()
    summary.seconds = round(time.perf_counter() - started, 3)
    if summary.refused:
        logger.warning("ingestion refusée : {} ({})", path.name, summary.detected or "format ?")
    else:
        logger.info(
            "ingestion {} ({}) : {} lues, {} nouvelles, {} doublons, {} conflits, {} invalides",
            path.name,
            summary.detected,
            summary.read,
            summary.new,
            summary.duplicates,
            summary.conflicts,
            summary.invalid,
        )
    return summary


_FORMULA = (
    "la cellule contient une formule dont Excel n'a pas enregistré le résultat : ouvrez le "
    "fichier dans Excel, laissez-le calculer puis enregistrez-le"
)
#: Fields holding a name, checked against the target's own name rules and for mojibake.
_NAME_KEYS = ("identity.birth_name", "identity.used_name", "identity.used_first_name")
_MOJIBAKE_KEYS = (*_NAME_KEYS, "identity.first_names", "identity.address")


def _name_problem(value: str, is_address: bool, rules: NameRules) -> str | None:
    why = mojibake(value)
    if why is None and not is_address:
        why = rules.problem(value.strip())
    return why


def _name_errors(
    data: dict[str, Any],
    rules: NameRules,
    seen: dict[tuple[str, bool], str | None] | None = None,
) -> list[tuple[str, str]]:
    """(key, reason) for every name the target would refuse or that shows mojibake.

    ``seen`` caches the verdict per distinct value for one file: a population's names repeat,
    and checking each row's names again cost ~15 % of a CSV's parsing.
    """
    identity = data.get("identity", {})
    out = []
    for key in _MOJIBAKE_KEYS:
        value = identity.get(key.partition(".")[2])
        if value is None:
            continue
        values = list(value) if isinstance(value, tuple) else [value]
        is_address = key == "identity.address"
        for v in values:
            if seen is None:
                why = _name_problem(v, is_address, rules)
            elif (v, is_address) in seen:
                why = seen[v, is_address]
            else:
                why = seen[v, is_address] = _name_problem(v, is_address, rules)
            if why:
                out.append((key, why))
                break
    return out


class _FileIds:
    """The app's assessment ids met so far in one file: a clash goes to a person."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, int]] = {}  # source id → (row, hash of its cells)

    def check(self, source_id: str, row: int, cells: tuple[str, ...]) -> tuple[str, int] | None:
        """None the first time; ("same"|"clash", first row) when the id came before."""
        h = hash(cells)
        first = self.seen.get(source_id)
        if first is None:
            self.seen[source_id] = (row, h)
            return None
        return ("same" if first[1] == h else "clash"), first[0]


#: Plain rows proved valid column by column (bot.ingest._plain) rather than one by one through
#: the model; the same items either way (tests/test_ingest_plain.py compares the two).
PLAIN_ROWS_BY_COLUMN = True
_UNCHECKED: Any = object()  # one_row's ``seen`` when the row's id was not looked up yet

#: ``parse(first row, columns, tick)`` → (rows of the chunk, names met, ops for :func:`_apply`)
_ParseChunk = Callable[
    [int, list[list[str]], Callable[[int], None] | None],
    tuple[int, set[str], list[tuple[str, Any]]],
]


def _chunk_parser(
    src: _Source,
    mapping: ExportMapping,
    summary: Summary,
    limits: ReadLimits,
    name_rules: NameRules,
) -> _ParseChunk:
    """Set up from the file's headers once; the function returned turns one chunk into ops.

    It touches no queue: it runs in this process, or in a forked one while this one writes.
    """
    # Headers are cells too: a stray byte or a control character there must not reach the
    # quarantine's stored row or a message (a header with one is simply not recognised).
    src.headers = [scrub_cell(h, limits.max_cell_chars)[0] for h in src.headers]
    index, summary.ignored_columns = _map_columns(src.headers, mapping)
    headers = [h.strip() for h in src.headers]
    judge = _RowJudge({key: headers[i] for key, i in index.items()})
    reader = _ColumnReader(mapping)
    key_of = {i: key for key, i in index.items()}
    # fields as the model nests them: group → [(field name, key)]
    nesting: dict[str | None, list[tuple[str, str]]] = {}
    for key in index:
        group, _, name = key.rpartition(".")
        if key != "app_alerts":
            nesting.setdefault(group or None, []).append((name, key))
    alerts_listed = "app_alerts" in index
    kept = [i for i, h in enumerate(headers) if h]  # the raw row keeps the named columns
    kept_headers = [headers[i] for i in kept]
    ref_prefix, hash_prefix = mapping.reference_prefix, mapping.hash_prefix
    no_alert = dict.fromkeys(DOMAINS, False)
    ids = _FileIds()
    name_verdicts: dict[tuple[str, bool], str | None] = {}
    plain_rows = (
        PlainRows.build(set(index), ref_prefix, name_rules) if PLAIN_ROWS_BY_COLUMN else None
    )

    def parse(
        first_row: int, columns: list[list[str]], tick: Callable[[int], None] | None
    ) -> tuple[int, set[str], list[tuple[str, Any]]]:
        n = len(columns[0]) if columns else 0
        raw_cols = [columns[i] if i < len(columns) else [""] * n for i in range(len(headers))]
        errors: dict[int, list[tuple[str, str]]] = {}
        # Every cell made safe first (invisible characters, bad bytes, sizes): what is refused
        # names its column; nothing unsafe reaches a value, a reference or the quarantine.
        for i in range(len(raw_cols)):
            raw_cols[i], scrubbed = scrub_column(raw_cols[i], limits.max_cell_chars)
            if i in key_of:
                for r, reason in scrubbed.items():
                    errors.setdefault(r, []).append((key_of[i], reason))
        for r in range(n):
            for col in src.formulas.get(first_row + r, ()):
                if col in key_of:
                    errors.setdefault(r, []).append((key_of[col], _FORMULA))
        parsed: dict[str, list[Any]] = {}
        for key, i in index.items():
            values, errs = reader.read(key, raw_cols[i])
            parsed[key] = values
            for r, reason in errs.items():
                if all(k != key for k, _ in errors.get(r, ())):  # one reason per cell
                    errors.setdefault(r, []).append((key, reason))
        # names, and each birth first name apart (not the list): the log filter masks them
        names = {
            cell
            for key in _PII_KEYS
            if key in index and key != "identity.first_names"
            for cell in raw_cols[index[key]]
        }
        if "identity.first_names" in parsed:
            names.update(p for v in parsed["identity.first_names"] if v is not SKIP for p in v)
        register_pii(*names)

        top = [(name, parsed[key]) for name, key in nesting.get(None, [])]
        groups = [
            (g, [(name, parsed[key]) for name, key in fields]) for g, fields in nesting.items() if g
        ]
        listed = parsed["app_alerts"] if alerts_listed else None
        ops: list[tuple[str, Any]] = []

        def one_row(r: int, row: int, cells: tuple[str, ...], seen: Any) -> None:
            """A row validated by the model, its reasons worded (``seen``: ids.check's, if done)."""
            data: dict[str, Any] = {name: v for name, col in top if (v := col[r]) is not SKIP}
            for g, fields in groups:
                data[g] = {name: v for name, col in fields if (v := col[r]) is not SKIP}
            if listed is not None:
                data["app_alerts"] = no_alert if listed[r] is SKIP else listed[r]
            cell_errors = errors.get(r, [])
            cell_errors += [
                e for e in _name_errors(data, name_rules, name_verdicts) if e not in cell_errors
            ]
            source_id = data.get("source_id")
            # An id that cannot be a reference (too long, or refused above) is not used as one.
            if source_id and (
                len(source_id) > _MAX_SOURCE_ID or any(k == "source_id" for k, _ in cell_errors)
            ):
                source_id = None
                data.pop("source_id")
                if not any(k == "source_id" for k, _ in cell_errors):
                    cell_errors.append(
                        ("source_id", f"l'identifiant a plus de {_MAX_SOURCE_ID} caractères")
                    )
            data["reference"] = f"{ref_prefix}{source_id}" if source_id else "?"
            if seen is _UNCHECKED:
                seen = ids.check(source_id, row, cells) if source_id else None
            if seen and seen[0] == "same":
                ops.append(("repeat", None))  # the very same row twice: nothing more to do
                return
            try:
                assessment = SelfAssessment.model_validate(data)
                failure = None
            except ValidationError as e:
                assessment, failure = None, e
            reasons = []
            if assessment is None or cell_errors:
                reasons = [judge.sentence(row, key, why) for key, why in cell_errors]
                if failure is not None:
                    unreadable = {key for key, _ in cell_errors}
                    reasons += judge.explain(row, failure, data.get("answers", {}), unreadable)
            if seen:  # same id as an earlier row of this file, other content: a person decides
                raw = dict(zip(kept_headers, cells, strict=True))
                ops.append(("clash", (data["reference"], row, seen[1], reasons, raw)))
                return
            if reasons:
                raw = dict(zip(kept_headers, cells, strict=True))
                ref = data["reference"] if source_id else f"{hash_prefix}{_raw_hash(raw)}"
                ops.append(("invalid", (ref, row, reasons, raw)))
                return
            assert assessment is not None
            if not source_id:
                assessment = assessment.model_copy(
                    update={"reference": f"{hash_prefix}{_reference_hash(assessment)}"}
                )
            # A valid row lives on as its validated assessment: storing the raw cells too would
            # keep a second copy of the health data (and 63 % of the queue file, see benchmarks).
            ops.append(("valid", (assessment, row)))

        # Plain rows (most of them) are proved valid column by column and written as the model
        # would write them (bot.ingest._plain); the others go through the model one by one.
        if plain_rows is not None:
            is_plain, refs, payloads, hashes = plain_rows.chunk(parsed, n, date.today())
            for r in errors:
                is_plain[r] = False  # a cell not read, a bad byte, a formula: reasons to word
            ids_col = parsed["source_id"]
        else:
            is_plain, refs, ids_col = [False] * n, [], []
            payloads = hashes = itertools.repeat(())
        # not strict: without plain rows, the encoded cells are an endless repeat of nothing
        rows = zip(zip(*(raw_cols[i] for i in kept), strict=True), payloads, hashes, strict=False)
        for r, (cells, payload_cells, hash_cells) in enumerate(rows):
            if tick is not None and r % PROGRESS_EVERY == 0 and r:
                tick(r)  # a chunk takes seconds: show life within it
            if not any(cells):
                continue  # a blank line: not a row
            row = first_row + r
            if not is_plain[r]:
                one_row(r, row, cells, _UNCHECKED)
                continue
            seen = ids.check(ids_col[r], row, cells)
            if seen is not None:  # an id met before in the file: the row-by-row way decides
                one_row(r, row, cells, seen)
                continue
            assert plain_rows is not None
            payload, content_hash = plain_rows.encode(payload_cells, hash_cells)
            ops.append(("prepared", (refs[r], content_hash, payload, row, None)))
        return n, names, ops

    return parse


#: Files from this size on are parsed in a forked process while this one writes to the queue
#: (two cores: parsing and validating ≈ 40 % of the CPU, writing ≈ 60 %). Below it, one chunk or
#: two: a fork would cost more than it saves.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024


def _parallel_by_default(path: Path) -> bool:
    return (
        (os.cpu_count() or 1) > 1
        and "fork" in multiprocessing.get_all_start_methods()
        and path.stat().st_size >= PARALLEL_MIN_BYTES
    )


_CHILD_DIED = (
    "la lecture du fichier s'est arrêtée brutalement (processus de lecture interrompu, "
    "mémoire insuffisante ?)"
)


def _prepared(op: tuple[str, Any]) -> tuple[str, Any]:
    """A valid row as the strings the writer stores: a model costs more to send than to make."""
    if op[0] != "valid":
        return op
    a, row = op[1]
    return "prepared", (
        a.reference,
        a.content_hash(),
        a.model_dump_json(),
        row,
        a.out_of_programme(),
    )


def _produce(src: _Source, parse: _ParseChunk, out: Connection) -> None:
    """In the forked process: every chunk parsed and sent, then an end mark or why it stopped."""
    try:
        for first_row, columns in src.chunks:
            n, names, ops = parse(first_row, columns, None)
            out.send(("chunk", first_row, n, names, [_prepared(op) for op in ops]))
        out.send(("end",))
    except FileRefused as e:
        out.send(("refused", e.message))
    except BaseException as e:  # whatever it is, the parent raises it
        try:
            out.send(("error", e))
        except Exception:  # an exception that does not pickle: its type is enough
            out.send(("error", RuntimeError(type(e).__name__)))
    finally:
        out.close()


def _parsed_in_child(
    src: _Source, parse: _ParseChunk
) -> Generator[tuple[int, int, set[str], list[tuple[str, Any]]], None, None]:
    """Chunks parsed by a forked process, one chunk ahead of the caller (the pipe blocks it).

    The child inherits the open file (or the Excel reader's pipe) and the parser's state (ids
    met so far); it never touches the queue. Its failure reaches the caller as the serial path
    would raise it: a malformed line as :class:`FileRefused`, a crash as a French refusal.
    """
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_produce, args=(src, parse, send), daemon=True)
    child.start()
    send.close()
    try:
        while True:
            try:
                message = receive.recv()
            except EOFError:
                raise FileRefused(src.failure() or _CHILD_DIED) from None
            if message[0] == "chunk":
                yield message[1], message[2], message[3], message[4]
            elif message[0] == "end":
                return
            elif message[0] == "refused":
                # the Excel reader's own failure is seen from here only (it is our child)
                raise FileRefused(src.failure() or message[1])
            else:
                raise message[1]
    finally:
        receive.close()
        child.join(timeout=5)
        if child.is_alive():  # we stopped early (a queue error): the child is not needed
            child.kill()
            child.join()


def _ingest_rows(
    src: _Source,
    queue: WorkQueue,
    mapping: ExportMapping,
    source: str,
    summary: Summary,
    limits: ReadLimits,
    name_rules: NameRules,
    progress: Progress | None = None,
    parallel: bool = False,
) -> None:
    parse = _chunk_parser(src, mapping, summary, limits, name_rules)
    transaction = getattr(queue, "transaction", None)
    expected = src.expected_rows() if progress is not None else None
    step = f"Ingestion de {Path(source).name}"
    done = 0
    if progress is not None:
        progress(step, 0, expected)

    def tick(r: int) -> None:
        if progress is not None:
            progress(step, done + r, expected)

    chunks: Generator[tuple[int, int, set[str], list[tuple[str, Any]]], None, None]
    if parallel:
        chunks = _parsed_in_child(src, parse)
    else:
        chunks = (
            (first_row, *parse(first_row, columns, tick if progress is not None else None))
            for first_row, columns in src.chunks
        )
    with contextlib.closing(chunks):
        for _first_row, n, names, ops in chunks:
            register_pii(*names)  # parsed in a child: the names this process must mask
            summary.read += len(ops)
            _apply(queue, ops, source, summary, transaction)
            done += n  # blank lines count here: they are lines of the file the estimate counted
            if progress is not None:
                progress(step, done, expected)
    if progress is not None:
        progress(step, done, done)  # the estimate may be off: the bar ends full


_MAX_SOURCE_ID = 48


def _shown(view: ItemView) -> str:
    """An item's row as a person recognises it, for a clash: its cells, or its identity."""
    if view.raw:
        return " ; ".join(f"{h} = {v}" for h, v in view.raw.items() if v)
    a = view.assessment
    if a is None:
        return "(contenu indisponible)"
    i = a.identity
    return (
        f"{i.birth_name} {' '.join(i.first_names)}, né(e) le {i.birth_date:%d/%m/%Y}, "
        f"évaluation du {a.assessed_on:%d/%m/%Y}"
    )


def _clash(
    queue: WorkQueue,
    source: str,
    ref: str,
    row: int,
    first_row: int,
    reasons: list[str],
    raw: dict[str, str],
) -> None:
    """Two rows of one file with one assessment id and different content: both to a person.

    The later row is quarantined under its own reference (``<reference>~L<row>``) with both rows
    in its details; the earlier one, if it was queued, waits for the reviewer instead of being
    entered. Nothing is overwritten and no row disappears.
    """
    first = queue.get(ref)
    why = (
        f"Ligne {row} : l'identifiant d'évaluation de la ligne {first_row} du même fichier, avec "
        "un autre contenu : une personne doit choisir la bonne ligne"
    )
    both = (
        f"Ligne {first_row} : {_shown(first)}\n"
        f"Ligne {row} : {' ; '.join(f'{h} = {v}' for h, v in raw.items() if v)}"
    )
    queue.quarantine(
        f"{ref}~L{row}", source=source, row=row, reasons=[why, *reasons, both], raw=raw
    )
    if first.state == ItemState.PENDING:
        queue.transition(
            ref,
            ItemState.NEEDS_REVIEW,
            actor="ingest",
            reason=(
                f"Identifiant d'évaluation en double dans {source} (lignes {first_row} et {row}, "
                "contenus différents) : choisir la bonne ligne avant la saisie"
            ),
            details=both,
            error_code="duplicate_id_in_file",
            expect_from=[ItemState.PENDING],
        )


def _fix_quarantined(queue: WorkQueue, assessment: SelfAssessment, source: str, row: int) -> bool:
    """A row quarantined earlier comes back valid (same app id): the export fixed it."""
    if queue.get(assessment.reference).state != ItemState.INVALID:
        return False
    queue.transition(
        assessment.reference,
        ItemState.PENDING,
        actor="ingest",
        reason=f"Corrigé par un export ultérieur ({source}, ligne {row})",
        expect_from=[ItemState.INVALID],
        assessment=assessment,
    )
    return True


def _apply(
    queue: WorkQueue,
    ops: list[tuple[str, Any]],
    source: str,
    summary: Summary,
    transaction: Callable[[], Any] | None,
) -> None:
    """Enqueue one chunk, in one transaction when the queue offers it.

    Valid rows go by runs through ``enqueue_many`` (a few statements per run, not one round trip
    per row: what a PostgreSQL queue on another machine needs); quarantines stay in their place.
    """
    from bot.workqueue import Enqueued, EnqueueStatus
    from bot.workqueue._rules import Prepared

    def flush(valid: list[Enqueued]) -> None:
        if not valid:
            return
        for entry, status in zip(valid, queue.enqueue_many(valid, source=source), strict=True):
            if status == EnqueueStatus.NEW:
                summary.new += 1
                if isinstance(entry, Prepared):
                    reference, concern = entry.reference, entry.concern
                else:
                    reference = entry.assessment.reference
                    concern = entry.assessment.out_of_programme()
                if concern:
                    # Possible but outside ICOPE: a person confirms before anything is entered.
                    queue.transition(
                        reference,
                        ItemState.NEEDS_REVIEW,
                        actor="ingest",
                        reason=f"Ligne {entry.row} : {concern}",
                        error_code="out_of_programme",
                        expect_from=[ItemState.PENDING],
                    )
                    summary.to_review += 1
            elif status == EnqueueStatus.DUPLICATE:
                summary.duplicates += 1
            elif _fix_quarantined(queue, entry.assessment, source, entry.row or 0):
                summary.fixed += 1
            else:
                summary.conflicts += 1
        valid.clear()

    def run() -> None:
        valid: list[Enqueued] = []
        for what, args in ops:
            if what == "repeat":
                summary.duplicates += 1
                continue
            if what == "clash":
                flush(valid)  # the earlier row of the clash may be waiting in this run
                _clash(queue, source, *args)
                summary.conflicts += 1
                continue
            if what == "invalid":
                flush(valid)
                ref, row, reasons, raw = args
                queue.quarantine(ref, source=source, row=row, reasons=reasons, raw=raw)
                summary.invalid += 1
                summary.quarantined.append(mask(" ; ".join(reasons)))
                continue
            if what == "prepared":  # parsed in a child process
                valid.append(Prepared(*args))
                continue
            assessment, row = args
            valid.append(Enqueued(assessment, row=row))
        flush(valid)

    if transaction is None:
        run()
    else:
        with transaction():
            run()


# --------------------------------------------------------------------------------------------
# Telling a person what happened
# --------------------------------------------------------------------------------------------


def summary_table(summaries: Sequence[Summary]) -> Any:
    """A rich table: one line per file (refusals spelled out under the table by the caller)."""
    from rich.table import Table

    table = Table(title="Ingestion des exports ICOPE et Moi")
    table.add_column("Fichier")
    table.add_column("Format détecté")
    for label in ("Lues", "Nouvelles", "Doublons", "Conflits", "Invalides"):
        table.add_column(label, justify="right")
    for s in summaries:
        if s.refused:
            table.add_row(s.file, s.detected or "?", "—", "—", "—", "—", "—", style="red")
            continue
        table.add_row(
            s.file,
            s.detected,
            str(s.read),
            str(s.new),
            str(s.duplicates),
            str(s.conflicts),
            str(s.invalid),
            style="dim" if s.already_ingested else ("yellow" if s.invalid or s.conflicts else None),
        )
    return table
