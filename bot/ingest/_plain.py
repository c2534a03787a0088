"""Plain rows, column by column: proved valid by the models' own rules, written without pydantic.

Most rows of an export are plain: every cell read, names ordinary, dates plausible, a person of 60
or more, an assessment id of its own. Validating such a row with pydantic, dumping it and hashing
it cost about 100 µs, most of the parsing of a large CSV. Here each column is checked against the
constraints of its model field once per distinct value, and a plain row's queue payload (what
``model_dump_json`` writes) and content hash (what ``content_hash`` computes) are assembled from
the encoded cells. Every row that is not plain for certain (a cell not read, a name the target
would refuse, a character JSON escapes, an id met before, a person under 60, a rule this module
does not know) takes the row-by-row path, which validates it and words its reasons: this module
never refuses a row, it only lets through rows the models would accept unchanged.

It knows the models field by field, so it works only with the models it was written for: when one
changes (a field, a constraint, a validator), :meth:`PlainRows.build` returns None and every row
takes the row-by-row path (slower, never wrong) until this module is brought up to date
(tests/test_ingest_plain.py fails and says so).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from annotated_types import Ge, Le
from pydantic import TypeAdapter

from bot.ingest._cells import SKIP, _Skip, mojibake
from bot.models import (
    DOMAINS,
    EARLIEST_BIRTH_YEAR,
    HEARING_RESULT_FIELDS,
    PROGRAMME_MIN_AGE,
    Alerts,
    HearingTest,
    Identity,
    NameRules,
    SelfAssessment,
    Sex,
    Step1Answers,
    is_valid_ins,
)

#: A digest of what the models check (fields, types, constraints, defaults, validators): the
#: checks below were written for exactly these models. See :func:`models_fingerprint`.
KNOWN_MODELS = "a49ec6b22df293cb"

#: Characters a JSON writer escapes (quote, backslash, controls) or cannot write (lone
#: surrogates): a text holding one goes the row-by-row way, so that a plain text is written
#: between quotes as it is, and pydantic and ``json.dumps`` write it alike.
_ESCAPED = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')
_INSEE = re.compile(r"(?:\d{2}|2A|2B)\d{3}")  # Identity._insee_code's pattern
_LETTER = re.compile(r"[^\W\d_]")  # Identity._name_has_letters's test
_FLOAT_JSON = TypeAdapter(float)
_CACHE_MAX = 200_000  # distinct values kept per column (names repeat; beyond, checked each time)
_MISS = object()

#: (payload JSON, hash JSON) of one cell; None when the cell does not make its row plain.
Encoded = tuple[str, str] | None
Check = Callable[[Any], Encoded]


def models_fingerprint() -> str:
    """What the models check, hashed: it changes when a field, a constraint or a validator does."""
    parts = []
    for model in (SelfAssessment, Identity, Step1Answers, Alerts):
        decorators = model.__pydantic_decorators__
        parts.append(model.__name__)
        parts.append(repr(sorted(model.model_config.items())))
        for name, f in model.model_fields.items():
            parts.append(f"{name}:{f.annotation!r}:{f.default!r}:{f.metadata!r}:{f.alias}")
        for name, fv in sorted(decorators.field_validators.items()):
            parts.append(f"field_validator {name} {fv.info.fields} {fv.info.mode}")
        for name, mv in sorted(decorators.model_validators.items()):
            parts.append(f"model_validator {name} {mv.info.mode}")
        for kind in ("validators", "field_serializers", "model_serializers", "computed_fields"):
            parts.append(f"{kind} {sorted(getattr(decorators, kind))}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _text(v: str) -> str:
    return f'"{v}"'


def _plain_text(v: object, max_len: int) -> bool:
    return type(v) is str and len(v) <= max_len and not _ESCAPED.search(v)


def _bool(nullable: bool) -> Check:
    def check(v: Any) -> Encoded:
        if v is True:
            return "true", "true"
        if v is False:
            return "false", "false"
        return ("null", "null") if v is None and nullable else None

    return check


def _bounds(metadata: list[Any]) -> tuple[float, float] | None:
    lo, hi = -math.inf, math.inf
    for m in metadata:
        if isinstance(m, Ge):
            lo = float(m.ge)  # type: ignore[arg-type]
        elif isinstance(m, Le):
            hi = float(m.le)  # type: ignore[arg-type]
        else:
            return None  # a constraint not known here
    return lo, hi


def _int(nullable: bool, lo: float, hi: float) -> Check:
    def check(v: Any) -> Encoded:
        if type(v) is int and lo <= v <= hi:
            return str(v), str(v)
        return ("null", "null") if v is None and nullable else None

    return check


def _float(nullable: bool, lo: float, hi: float) -> Check:
    def check(v: Any) -> Encoded:
        if type(v) is float and math.isfinite(v) and lo <= v <= hi:
            # pydantic writes 1e-05 as 0.00001, json.dumps as 1e-05: each writer's own way
            return _FLOAT_JSON.dump_json(v).decode(), json.dumps(v)
        return ("null", "null") if v is None and nullable else None

    return check


def _choice(values: set[str]) -> Check:
    def check(v: Any) -> Encoded:
        if type(v) is str and v in values and not _ESCAPED.search(v):
            return _text(v), _text(v)
        return None

    return check


class _Leaf:
    """One field of the model: its cells' check, and what it is when the cell is empty."""

    def __init__(
        self,
        path: tuple[str, ...],
        check: Check,
        default: Encoded,
        *,
        cached: bool = True,
        whole: Callable[[list[str]], bool] | None = None,
    ) -> None:
        self.path = path
        self.key = ".".join(path)  # the mapping's name of the field ("identity.birth_name")
        self.check = check
        self.default = default  # None: required (an empty cell is not plain)
        self.cached = cached
        self.cache: dict[Any, Encoded] = {}
        #: for free texts: True when every text of the column passes (then written as it is)
        self.whole = whole

    def encode(self, col: list[Any] | None, n: int) -> tuple[list[str], list[str], list[int]]:
        """Payload and hash texts of each cell of a column, and the rows it makes not plain."""
        if col is None:  # no such column in the file: the field's default in every row
            if self.default is None:
                return [], [], list(range(n))
            return [self.default[0]] * n, [self.default[1]] * n, []
        # Each distinct value is checked once. Values are told apart as JSON writes them: as dict
        # keys -0.0 equals 0.0 (written "-0.0" and "0.0") and True equals 1.
        kinds = set(map(type, col)) - {_Skip, type(None)}
        if self.whole is not None and kinds <= {str} and self.default is not None:
            texts = [v for v in col if v is not SKIP]
            if self.whole(texts):  # the common case: one search over the column
                empty = self.default[0]
                out = [empty if v is SKIP else f'"{v}"' for v in col]
                return out, out, []
        typed = len(kinds) > 1 or float in kinds
        keys: list[Any] = [_typed_key(v) for v in col] if typed else col
        values = dict(zip(keys, col, strict=True)) if typed else dict.fromkeys(col)
        cache, check, default = self.cache, self.check, self.default
        table: dict[Any, Encoded] = {}
        for k, v in values.items():
            value = v if typed else k
            if value is SKIP:
                e = default
            elif not self.cached:
                e = check(value)
            else:
                e = cache.get(k, _MISS)  # type: ignore[arg-type]
                if e is _MISS:
                    e = cache[k] = check(value)
                    if len(cache) > _CACHE_MAX:
                        cache.clear()
            table[k] = e
        bad: list[int] = []
        if None in table.values():
            bad = [r for r, k in enumerate(keys) if table[k] is None]
        payload_of = {k: "" if e is None else e[0] for k, e in table.items()}
        payload = list(map(payload_of.__getitem__, keys))
        if all(e is None or e[0] == e[1] for e in table.values()):
            return payload, payload, bad
        hash_of = {k: "" if e is None else e[1] for k, e in table.items()}
        return payload, list(map(hash_of.__getitem__, keys)), bad


def _typed_key(v: Any) -> Any:
    return (float, v.hex()) if type(v) is float else (type(v), v)


def _template(leaves: list[_Leaf], compact: bool, exclude: set[str]) -> tuple[str, list[int]]:
    """A %-template of the whole JSON, and the leaves in the order the template takes them."""
    nested: dict[str, Any] = {}
    for i, leaf in enumerate(leaves):
        if leaf.path[0] in exclude:
            continue
        node = nested
        for part in leaf.path[:-1]:
            node = node.setdefault(part, {})
        node[leaf.path[-1]] = f"\x01{i}\x01"
    if compact:
        text = json.dumps(nested, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(nested, sort_keys=True, ensure_ascii=False)
    text = text.replace("%", "%%")
    order = [int(m) for m in re.findall(r'"\\u0001(\d+)\\u0001"', text)]
    return re.sub(r'"\\u0001\d+\\u0001"', "%s", text), order


class PlainRows:
    """Set up once per file; :meth:`chunk` finds a chunk's plain rows and encodes them."""

    def __init__(self, leaves: list[_Leaf], reference_prefix: str, listed_alerts: bool) -> None:
        self.leaves = leaves
        self.prefix = reference_prefix
        self.listed_alerts = listed_alerts
        self.payload, self.payload_order = _template(leaves, True, set())
        self.hashed, self.hash_order = _template(leaves, False, {"reference", "source_id"})

    @classmethod
    def build(cls, keys: set[str], reference_prefix: str, rules: NameRules) -> PlainRows | None:
        """For a file whose columns are ``keys``; None when its rows cannot be plain."""
        if models_fingerprint() != KNOWN_MODELS or _ESCAPED.search(reference_prefix):
            return None
        if "source_id" not in keys or len(reference_prefix) + 48 > 64:
            return None  # rows without an id get a hash reference: the row-by-row way
        verdicts: dict[str, bool] = {}

        def name_ok(v: object, letter: bool) -> bool:
            if not (type(v) is str and 1 <= len(v) <= 100 and v == v.strip()):
                return False
            if _ESCAPED.search(v) or (letter and not _LETTER.search(v)):
                return False
            ok = verdicts.get(v)
            if ok is None:  # the checks of _name_errors: mojibake, then the target's rules
                ok = verdicts[v] = mojibake(v) is None and rules.problem(v) is None
                if len(verdicts) > _CACHE_MAX:
                    verdicts.clear()
            return ok

        def name(letter: bool) -> Check:
            return lambda v: (_text(v), _text(v)) if name_ok(v, letter) else None

        def first_names(v: Any) -> Encoded:
            if type(v) is not tuple or not 1 <= len(v) <= 10:
                return None
            if not all(name_ok(p, False) for p in v):
                return None
            return "[" + ",".join(map(_text, v)) + "]", "[" + ", ".join(map(_text, v)) + "]"

        def text(max_len: int, address: bool = False) -> Check:
            def check(v: Any) -> Encoded:
                if not _plain_text(v, max_len) or (address and mojibake(v) is not None):
                    return None
                return _text(v), _text(v)

            return check

        def texts(max_len: int, address: bool = False) -> Callable[[list[str]], bool]:
            def whole(col: list[str]) -> bool:
                if col and max(map(len, col)) > max_len:
                    return False
                # DEL is in neither pattern: no match can span two cells
                joined = "\x7f".join(col)
                if _ESCAPED.search(joined):
                    return False
                return not (address and mojibake(joined) is not None)

            return whole

        def day(v: Any) -> Encoded:
            # the dates' own rules (future, before 1900) are checked with the row's other date
            if type(v) is date and v.year >= EARLIEST_BIRTH_YEAR:
                return _text(v.isoformat()), _text(v.isoformat())
            return None

        def insee(v: Any) -> Encoded:
            if _plain_text(v, 10) and v == v.strip().upper() and _INSEE.fullmatch(v):
                return _text(v), _text(v)
            return None

        def ins(v: Any) -> Encoded:
            if _plain_text(v, 30) and v == v.replace(" ", "").upper() and is_valid_ins(v):
                return _text(v), _text(v)
            return None

        null: Encoded = ("null", "null")
        leaves = [
            _Leaf(("reference",), lambda v: None, None, cached=False),  # written per row
            _Leaf(("source_id",), lambda v: None, None, cached=False),
            _Leaf(("assessed_on",), day, None),
        ]
        identity: dict[str, tuple[Check, Encoded, bool] | _Leaf] = {
            "birth_name": (name(True), None, True),
            "first_names": (first_names, None, True),
            "used_name": (name(True), null, True),
            "used_first_name": (name(False), null, True),
            "birth_date": (day, None, True),
            "sex": (_choice({s.value for s in Sex}), None, True),
            "birth_insee": (insee, None, True),
            "ins": (ins, null, False),
            "phone": _Leaf(("identity", "phone"), text(30), null, cached=False, whole=texts(30)),
            "email": _Leaf(("identity", "email"), text(254), null, cached=False, whole=texts(254)),
            "address": _Leaf(
                ("identity", "address"),
                text(300, address=True),
                null,
                cached=False,
                whole=texts(300, address=True),
            ),
        }
        for field_name in Identity.model_fields:
            spec = identity[field_name]
            if isinstance(spec, _Leaf):
                leaves.append(spec)
                continue
            check, empty, cached = spec
            leaves.append(_Leaf(("identity", field_name), check, empty, cached=cached))
        leaves.append(_Leaf(("consent_sharing",), _bool(False), None))
        for field_name, f in Step1Answers.model_fields.items():
            bounds = _bounds(f.metadata)
            if bounds is None:
                return None
            nullable = f.annotation in (bool | None, int | None, float | None)
            if f.annotation in (bool, bool | None):
                check = _bool(nullable)
            elif f.annotation in (int, int | None):
                check = _int(nullable, *bounds)
            elif f.annotation in (float, float | None):
                check = _float(nullable, *bounds)
            elif f.annotation is HearingTest:
                check = _choice({h.value for h in HearingTest})
            else:
                return None
            default: Encoded = None  # required
            if not f.is_required():
                value = f.default.value if isinstance(f.default, HearingTest) else f.default
                default = check(value)
                if default is None:
                    return None
            leaves.append(_Leaf(("answers", field_name), check, default))
        for domain in Alerts.model_fields:
            leaves.append(_Leaf(("app_alerts", domain), _bool(False), None))
        listed = "app_alerts" in keys
        for leaf in leaves[3:]:
            if leaf.default is None and leaf.path[0] != "app_alerts" and leaf.key not in keys:
                return None  # a required field without a column: no row is valid
        if not listed and not all(f"app_alerts.{d}" in keys for d in Alerts.model_fields):
            return None
        return cls(leaves, reference_prefix, listed)

    def chunk(
        self, parsed: dict[str, list[Any]], n: int, today: date
    ) -> tuple[list[bool], list[str], Iterator[tuple[str, ...]], Iterator[tuple[str, ...]]]:
        """(plain or not, reference, payload cells, hash cells) for each row of a chunk."""
        plain = [True] * n
        ids = parsed["source_id"]
        refs = [""] * n
        for r, v in enumerate(ids):
            if v is SKIP or len(v) > 48 or _ESCAPED.search(v):
                plain[r] = False
            else:
                refs[r] = self.prefix + v
        columns: dict[str, list[Any]] = dict(parsed)
        if self.listed_alerts:  # one column listing the alerted domains: six columns here
            no_alert = dict.fromkeys(DOMAINS, False)
            rows = [no_alert if v is SKIP else v for v in parsed["app_alerts"]]
            for d in Alerts.model_fields:
                columns[f"app_alerts.{d}"] = [row.get(d) for row in rows]
        # the reference and the id are written from the row's id (and not hashed)
        payload_cols = [
            [_text(ref) for ref in refs],
            [_text(v) if refs[r] else "" for r, v in enumerate(ids)],
        ]
        hash_cols: list[list[str]] = [[], []]
        for leaf in self.leaves[2:]:
            p, h, bad = leaf.encode(columns.get(leaf.key), n)
            for r in bad:
                plain[r] = False
            payload_cols.append(p)
            hash_cols.append(h)
        self._rules_between_fields(parsed, plain, today)
        return (
            plain,
            refs,
            zip(*(payload_cols[i] for i in self.payload_order), strict=True),
            zip(*(hash_cols[i] for i in self.hash_order), strict=True),
        )

    def _rules_between_fields(
        self, parsed: dict[str, list[Any]], plain: list[bool], today: date
    ) -> None:
        """Dates against each other and today, the programme's age, hearing test and result."""
        on, born = parsed["assessed_on"], parsed["identity.birth_date"]
        test = parsed.get("answers.hearing_test")
        results = {
            str(kind): parsed.get(f"answers.{name}") for kind, name in HEARING_RESULT_FIELDS.items()
        }
        for r, ok in enumerate(plain):
            if not ok:
                continue
            d, b = on[r], born[r]
            if d > today or b > today or b > d:
                plain[r] = False
                continue
            age = d.year - b.year - ((d.month, d.day) < (b.month, b.day))
            if age < PROGRAMME_MIN_AGE:  # out of the programme: a person looks first
                plain[r] = False
                continue
            kind = HearingTest.NONE.value if test is None or test[r] is SKIP else test[r]
            for result_kind, col in results.items():
                value = None if col is None or col[r] is SKIP else col[r]
                if (value is None) == (result_kind == kind):
                    plain[r] = False
                    break

    def encode(
        self, payload_cells: tuple[str, ...], hash_cells: tuple[str, ...]
    ) -> tuple[str, str]:
        """(queue payload, content hash) of one plain row."""
        blob = (self.hashed % hash_cells).encode()
        return self.payload % payload_cells, hashlib.sha256(blob).hexdigest()
