"""What a run shows the assistant: live progress, the summary table, and the HTML run report.

The run report is one self-contained HTML file per run, ``reports/run-<timestamp>.html``.

Counts per outcome, durations, and each exception with its reason and thumbnails of its
screenshots, embedded as base64 data URIs so the file can be mailed or archived alone. Items
appear by queue reference only, never by name; reasons go through the log's PII mask as a
safety net. The folder is 0700 and the file 0600 (the screenshots show health data).

The console side (:class:`RunProgress`, :func:`ask_in_terminal`, :func:`print_run_summary`) turns
the runner's events into a rich progress bar on a terminal, or one plain line per event when the
output is a file or a pipe (cron, tests).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, select_autoescape

from bot.evidence import private_dir
from bot.logs import mask
from bot.workqueue import STATE_LABELS

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from bot.runner import ItemRecord, PauseChoice, PauseRequest, RunEvent, RunSummary

__all__ = [
    "RunProgress",
    "ask_in_terminal",
    "print_run_summary",
    "render_run_report",
    "write_run_report",
]

#: Screenshots larger than this are linked by path instead of embedded (keeps the file mailable).
MAX_EMBEDDED_BYTES = 3_000_000

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

STOP_LABELS = {
    None: "file vidée",
    "circuit_breaker": "disjoncteur (erreurs techniques de suite)",
    "interrupted": "arrêt demandé",
    "stop_time": "heure de fin atteinte",
    "browser": "navigateur non démarré",
    "worker_error": "erreur d'un robot",
}
CATEGORY_LABELS = {"ok": "", "business": "à décider", "system": "technique"}
EXIT_LABELS = {
    0: "tout est saisi",
    1: "des éléments attendent une décision",
    2: "arrêt ou échecs techniques",
}

_TEMPLATE = """<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<title>Passage du robot ICOPE — {{ started }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.exit0 { color: #17622f; } .exit1 { color: #8a5300; } .exit2 { color: #a4161a; }
.message { padding: .6em 1em; border-left: 4px solid #a4161a; background: #fbeaea; }
.exception { border: 1px solid #ddd; padding: .6em 1em; margin: 1em 0; }
.exception h3 { margin: 0 0 .3em; font-size: 1.05em; }
.thumbs { display: flex; flex-wrap: wrap; gap: .6em; }
.thumbs figure { margin: 0; }
.thumbs img { max-width: 260px; max-height: 200px; border: 1px solid #bbb; }
.thumbs figcaption, .path { font-size: .8em; color: #555; word-break: break-all; }
</style>
</head>
<body>
<h1>Passage du robot ICOPE — {{ started }}</h1>
<p class="exit{{ exit_code }}"><strong>Résultat : {{ exit_label }}</strong>
 (code de sortie {{ exit_code }}){% if dry_run %} — <strong>essai à blanc</strong> :
 rien n'a été enregistré dans l'outil cible{% endif %}.</p>
{% if message %}<p class="message">{{ message }}</p>{% endif %}

<h2>En chiffres</h2>
<table>
<tr><th>Début</th><td>{{ started }}</td></tr>
<tr><th>Fin</th><td>{{ finished }}</td></tr>
<tr><th>Durée totale</th><td>{{ total }}</td></tr>
<tr><th>Robots en parallèle</th><td>{{ workers }}</td></tr>
<tr><th>Éléments traités</th><td>{{ handled }} ({{ attempts }} passage(s))</td></tr>
<tr><th>Durée par élément</th><td>médiane {{ median }}, 95 % en moins de {{ p95 }}</td></tr>
<tr><th>Cadence</th><td>{{ per_minute }} élément(s) par minute</td></tr>
<tr><th>Fin du passage</th><td>{{ stop_label }}</td></tr>
{% if recovered %}<tr><th>Repris d'un robot arrêté</th><td>{{ recovered|join(", ") }}</td></tr>{% endif %}
{% if unknown %}<tr><th>Références inconnues</th><td>{{ unknown|join(", ") }}</td></tr>{% endif %}
</table>

<table>
<tr><th>État après le passage</th><th>Éléments</th></tr>
{% for label, n in counts %}<tr><td>{{ label }}</td><td class="n">{{ n }}</td></tr>
{% else %}<tr><td colspan="2">Aucun élément à traiter.</td></tr>{% endfor %}
</table>

<table>
<tr><th>Toute la file après le passage</th><th>Éléments</th></tr>
{% for label, n in queue_counts %}<tr><td>{{ label }}</td><td class="n">{{ n }}</td></tr>
{% endfor %}</table>

<h2>Exceptions ({{ exceptions|length }})</h2>
{% for e in exceptions %}
<section class="exception" id="{{ e.reference }}-{{ e.attempt }}">
<h3>{{ e.reference }} — {{ e.outcome }} ({{ e.category }})</h3>
<p>{{ e.reason }}{% if e.code %} <code>{{ e.code }}</code>{% endif %}<br>
<span class="path">tentative {{ e.attempt }}, {{ e.seconds }}, robot {{ e.worker }}</span></p>
{% if e.images %}<div class="thumbs">
{% for img in e.images %}<figure><img src="{{ img.uri }}" alt="capture {{ img.name }}">
<figcaption>{{ img.name }}</figcaption></figure>
{% endfor %}</div>{% endif %}
{% for f in e.files %}<div class="path">{{ f }}</div>{% endfor %}
</section>
{% else %}<p>Aucune exception.</p>{% endfor %}

<h2>Tous les éléments</h2>
<table>
<tr><th>Référence</th><th>Tentative</th><th>État</th><th>Durée</th></tr>
{% for r in rows %}<tr><td>{{ r.reference }}</td><td class="n">{{ r.attempt }}</td>
<td>{{ r.outcome }}</td><td class="n">{{ r.seconds }}</td></tr>
{% endfor %}</table>
<p class="path">Les traces (.zip) s'ouvrent avec : playwright show-trace CHEMIN</p>
</body>
</html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_template = _env.from_string(_TEMPLATE)


@dataclass(frozen=True)
class _Image:
    name: str
    uri: str


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".", ",")
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%d/%m/%Y %H:%M:%S")


def _embedded(path: Path) -> _Image | None:
    mime = _MIME.get(path.suffix.lower())
    try:
        if mime is None or path.stat().st_size > MAX_EMBEDDED_BYTES:
            return None
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return None
    return _Image(path.name, f"data:{mime};base64,{data}")


def _exception(record: ItemRecord) -> dict[str, object]:
    images: list[_Image] = []
    files: list[str] = []
    for p in map(Path, record.evidence):
        image = _embedded(p)
        if image is not None:
            images.append(image)
        else:
            files.append(str(p))  # traces, big or missing screenshots: their path only
    return {
        "reference": record.reference,
        "attempt": record.attempt,
        "outcome": STATE_LABELS[record.outcome],
        "category": CATEGORY_LABELS[record.category],
        "reason": mask(record.reason),
        "code": record.error_code,
        "seconds": _duration(record.seconds),
        "worker": record.worker,
        "images": images,
        "files": files,
    }


def render_run_report(summary: RunSummary) -> str:
    """The report as one HTML string (images embedded)."""
    from bot.models import ItemState

    counts = [(STATE_LABELS[ItemState(state)], n) for state, n in sorted(summary.counts.items())]
    return _template.render(
        started=_when(summary.started_at),
        finished=_when(summary.finished_at),
        total=_duration(summary.duration_seconds),
        workers=summary.workers,
        handled=len(summary.final),
        attempts=len(summary.items),
        median=_duration(summary.median_seconds),
        p95=_duration(summary.p95_seconds),
        per_minute=f"{summary.per_minute:.1f}".replace(".", ","),
        stop_label=STOP_LABELS.get(summary.stopped_reason, summary.stopped_reason),
        message=mask(summary.message),
        exit_code=summary.exit_code,
        exit_label=EXIT_LABELS[summary.exit_code],
        dry_run=summary.dry_run,
        recovered=summary.recovered_leases,
        unknown=summary.unknown_references,
        counts=counts,
        queue_counts=[
            (STATE_LABELS[ItemState(state)], n) for state, n in summary.queue_counts.items()
        ],
        exceptions=[_exception(r) for r in summary.exceptions],
        rows=[
            {
                "reference": r.reference,
                "attempt": r.attempt,
                "outcome": STATE_LABELS[r.outcome] + (" (essai à blanc)" if r.dry_run else ""),
                "seconds": _duration(r.seconds),
            }
            for r in summary.items
        ],
    )


def write_run_report(summary: RunSummary, reports_dir: Path) -> Path:
    """Write ``<reports_dir>/run-<yyyymmdd-hhmmss>.html`` (folder 0700, file 0600)."""
    private_dir(reports_dir)
    stamp = summary.started_at.astimezone().strftime("%Y%m%d-%H%M%S")
    path = reports_dir / f"run-{stamp}.html"
    n = 1
    while path.exists():  # two runs started in the same second keep both reports
        n += 1
        path = reports_dir / f"run-{stamp}-{n}.html"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(render_run_report(summary))
    return path


# --- console --------------------------------------------------------------------------------

_SHORT = {
    "done": "terminés",
    "needs_review": "à vérifier",
    "retry_wait": "à réessayer",
    "failed": "en échec",
    "pending": "rendus",
}
_MARK = {"ok": "✓", "business": "?", "system": "✗"}


class RunProgress:
    """The runner's ``on_event``: a live bar on a terminal, one line per event elsewhere."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[rate]} /min"),
            TimeElapsedColumn(),
            console=console,
            disable=not self.live,
        )
        self.task = self.progress.add_task("Saisie", total=None, counts="", rate="0")
        self.finished = 0
        self.counts: dict[str, int] = {}
        self.started = datetime.now()

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def log_above_the_bar(self, level: str, logs_dir: Path | None) -> None:
        """On a terminal, print log lines above the live bar rather than through it."""
        if not self.live:
            return
        from bot.logs import configure_logging, logger

        configure_logging(level, logs_dir, console=False)
        logger.add(
            lambda line: self.say(mask(str(line)).rstrip("\n")),
            level=level,
            format="{time:HH:mm:ss} {level:<7} {message}",
            colorize=False,
        )

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def stop_requested(self) -> None:
        """First Ctrl-C: tell the assistant what happens now."""
        self.say(
            "Arrêt demandé : fin de l'élément en cours… (Ctrl-C encore pour arrêter tout de suite)"
        )

    def __call__(self, event: RunEvent) -> None:
        if event.kind == "run_started":
            self.progress.update(self.task, total=event.total or None)
            if not self.live:
                self.say(f"Lot démarré : {event.total} élément(s) à traiter")
        elif event.kind == "item_started" and not self.live:
            self.say(f"→ {event.reference} : début (tentative {event.attempt})")
        elif event.kind == "item_finished" and event.record is not None:
            self._finished(event.record)
        elif event.kind == "stopping":
            self.say(event.message)

    def _finished(self, record: ItemRecord) -> None:
        self.finished += 1
        key = record.outcome.value
        self.counts[key] = self.counts.get(key, 0) + 1
        minutes = (datetime.now() - self.started).total_seconds() / 60
        rate = f"{self.finished / minutes:.1f}" if minutes > 0 else "0"
        counts = " · ".join(f"{n} {_SHORT.get(k, k)}" for k, n in self.counts.items())
        total = self.progress.tasks[0].total
        if total is not None and self.finished > total:
            total = self.finished  # retries within the run add work
        self.progress.update(
            self.task, completed=self.finished, total=total, counts=counts, rate=rate
        )
        if not self.live or record.category != "ok":  # exceptions show on a terminal too
            label = STATE_LABELS[record.outcome]
            why = f" — {mask(record.reason)}" if record.reason else ""
            self.say(
                f"{_MARK[record.category]} {record.reference} : {label} "
                f"({_duration(record.seconds)}){why} [{self.finished}/{total or '?'}]"
            )


def ask_in_terminal(
    progress: RunProgress, read: Callable[[str], str] = input
) -> Callable[[PauseRequest], PauseChoice]:
    """The pause prompt of a supervised run: the browser stays on the failing screen meanwhile."""
    from bot.runner import PauseChoice

    answers = {
        "c": PauseChoice.CONTINUE,
        "continuer": PauseChoice.CONTINUE,
        "p": PauseChoice.SKIP,
        "passer": PauseChoice.SKIP,
        "a": PauseChoice.ABORT,
        "arreter": PauseChoice.ABORT,
        "arrêter": PauseChoice.ABORT,
    }

    def ask(request: PauseRequest) -> PauseChoice:
        progress.progress.stop()
        try:
            progress.say(
                f"\nPause sur {request.reference} ({STATE_LABELS[request.outcome]}) : "
                f"{mask(request.reason)}"
            )
            progress.say("Le navigateur reste sur l'écran en cause.")
            while True:
                answer = read("continuer / passer / arrêter ? [c/p/a] ").strip().lower()
                if answer in answers:
                    return answers[answer]
                progress.say("Répondre c (continuer), p (passer) ou a (arrêter).")
        except EOFError:
            return PauseChoice.ABORT  # no one at the terminal any more: stop safely
        finally:
            progress.progress.start()

    return ask


def print_run_summary(console: Console, summary: RunSummary, report: Path | None) -> None:
    """The end-of-run table: counts per outcome, durations, why it stopped, the report file."""
    from rich.table import Table

    from bot.models import ItemState

    if not summary.items and summary.stopped_reason is None:
        console.print("Aucun élément à traiter : rien n'attend le robot dans la file.")
    title = "Passage du robot" + (" (essai à blanc)" if summary.dry_run else "")
    table = Table(title=title)
    table.add_column("État après le passage")
    table.add_column("Éléments", justify="right")
    for state, n in sorted(summary.counts.items()):
        table.add_row(STATE_LABELS[ItemState(state)], str(n))
    table.add_section()
    table.add_row("Total", str(len(summary.final)), style="bold")
    console.print(table)
    console.print(
        f"Durée {_duration(summary.duration_seconds)} · par élément : médiane "
        f"{_duration(summary.median_seconds)}, 95 % en moins de {_duration(summary.p95_seconds)}",
        highlight=False,
    )
    if summary.message:
        console.print(summary.message, markup=False, highlight=False)
    if summary.queue_counts:
        console.print(
            "Toute la file : "
            + ", ".join(
                f"{n} {STATE_LABELS[ItemState(state)]}" for state, n in summary.queue_counts.items()
            ),
            highlight=False,
        )
    if summary.unknown_references:
        console.print(
            "Références inconnues : " + ", ".join(summary.unknown_references), markup=False
        )
    console.print(
        f"Résultat : {EXIT_LABELS[summary.exit_code]} (code {summary.exit_code})", highlight=False
    )
    if report is not None:
        console.print(f"Rapport : {report}", markup=False, highlight=False)
