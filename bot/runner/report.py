"""What a run shows the assistant: live progress, the summary table, and the HTML run report.

The run report is one self-contained HTML file per run, ``reports/run-<timestamp>.html``.

Counts per outcome, durations, and each exception with its reason and thumbnails of its
screenshots, embedded as base64 data URIs so the file can be mailed or archived alone. Items
appear by queue reference only, never by name; reasons go through the log's PII mask as a
safety net. The folder is 0700 and the file 0600 (the screenshots show health data).

What the terminal shows during and after a run lives in :mod:`bot.console`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, select_autoescape

from bot.errors import what_to_do
from bot.evidence import free_stem, private_dir, write_private
from bot.logs import local_text, local_time, mask
from bot.workqueue import STATE_LABELS

if TYPE_CHECKING:
    from bot.runner.summary import ItemRecord, RunSummary

from bot.runner.summary import CATEGORY_LABELS, STOP_LABELS, duration_text

__all__ = [
    "render_run_report",
    "write_run_report",
]

#: Screenshots larger than this are linked by path instead of embedded (keeps the file mailable).
MAX_EMBEDDED_BYTES = 3_000_000

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

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
.exit0 { color: #17622f; } .exit1, .exit3, .exit4 { color: #8a5300; } .exit2 { color: #a4161a; }
.message { padding: .6em 1em; border-left: 4px solid #a4161a; background: #fbeaea; }
.exception { border: 1px solid #ddd; padding: .6em 1em; margin: 1em 0; }
.exception h3 { margin: 0 0 .3em; font-size: 1.05em; }
.thumbs { display: flex; flex-wrap: wrap; gap: .8em; }
.thumbs figure { margin: 0; }
/* Large enough to read the screen's texts; a click shows the capture at full size (no script:
   the report may be opened from a mail, where scripts do not run). */
.thumbs img { width: 520px; max-width: 100%; border: 1px solid #bbb; cursor: zoom-in; }
.thumbs figure:target { position: fixed; inset: 0; z-index: 10; margin: 0; padding: 1em;
  background: rgba(0, 0, 0, .85); overflow: auto; }
.thumbs figure:target img { width: auto; max-width: none; cursor: default; }
.thumbs .close { display: none; }
.thumbs figure:target .close { display: inline-block; color: #fff; font-size: 1.1em;
  margin-bottom: .5em; }
.thumbs figure:target figcaption { color: #eee; }
.thumbs figcaption, .path { font-size: .8em; color: #555; word-break: break-all; }
table.alerts td.differs { background: #fce4d6; font-weight: 600; }
</style>
</head>
<body>
<h1>Passage du robot ICOPE — {{ started }}</h1>
<p class="exit{{ exit_code }}"><strong>Résultat : {{ exit_label }}</strong>
 (code de sortie {{ exit_code }}).</p>
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

{% if machines %}<table>
<tr><th>Toute la file pendant le passage, par machine</th><th>Éléments</th></tr>
{% for machine, states in machines %}<tr><td>{{ machine }}</td><td>{{ states }}</td></tr>
{% endfor %}</table>{% endif %}

<h2>Exceptions ({{ exceptions|length }})</h2>
{% for e in exceptions %}
<section class="exception" id="{{ e.reference }}-{{ e.attempt }}">
<h3>{{ e.reference }} — {{ e.outcome }} ({{ e.category }})</h3>
<p>{{ e.reason }}{% if e.code %} <code>{{ e.code }}</code>{% endif %}<br>
{% if e.action %}<strong>Que faire :</strong> {{ e.action }}<br>{% endif %}
<span class="path">tentative {{ e.attempt }}, {{ e.seconds }}, robot {{ e.worker }}</span></p>
{% if e.alerts %}<table class="alerts">
<tr><th>Domaine</th><th>ICOPE et Moi</th><th>e-parcours</th><th>Règle de référence</th></tr>
{% for a in e.alerts %}<tr><td>{{ a.domain }}</td>
{% for said in a.said %}<td{% if a.differs %} class="differs"{% endif %}>{{ said }}</td>{% endfor %}</tr>
{% endfor %}</table>{% endif %}
{% if e.target %}<p><strong>Dans l'e-parcours :</strong></p><ul class="target">
{% for line in e.target %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
{# The purge (bot/retention.py) finds an item's evidence between these two comments. #}
<!-- preuves {{ e.reference }} -->
{% if e.images %}<div class="thumbs">
{% for img in e.images %}<figure id="{{ e.reference }}-{{ e.attempt }}-{{ loop.index }}">
<a class="close" href="#{{ e.reference }}-{{ e.attempt }}">✕ fermer</a>
<a href="#{{ e.reference }}-{{ e.attempt }}-{{ loop.index }}" title="Afficher en grand"><img src="{{ img.uri }}" alt="capture {{ img.name }}"></a>
<figcaption>{{ img.name }} — cliquer pour agrandir</figcaption></figure>
{% endfor %}</div>{% endif %}
{% for f in e.files %}<div class="path">{{ f }}</div>{% endfor %}
<!-- fin des preuves -->
</section>
{% else %}<p>Aucune exception.</p>{% endfor %}

{% if informations %}
<h2>Informations d'identité ({{ informations|length }})</h2>
<p>Dossiers trouvés sur leurs traits stricts dont l'export donne d'autres traits d'usage ou
coordonnées. Aucune décision n'est demandée et le robot n'a rien modifié dans les dossiers ;
le détail est dans l'onglet « Informations » du fichier de vérification.</p>
<table>
<tr><th>Référence</th><th>Diffère du dossier par</th></tr>
{% for i in informations %}<tr><td>{{ i.reference }}</td><td>{{ i.traits }}</td></tr>
{% endfor %}</table>
{% endif %}

<h2>Tous les éléments</h2>
<table>
<tr><th>Référence</th><th>Tentative</th><th>État</th><th>Durée</th><th>Dans l'e-parcours</th></tr>
{% for r in rows %}<tr><td>{{ r.reference }}</td><td class="n">{{ r.attempt }}</td>
<td>{{ r.outcome }}</td><td class="n">{{ r.seconds }}</td>
<td>{% for line in r.target %}{{ line }}{% if not loop.last %}<br>{% endif %}{% else %}rien{% endfor %}</td></tr>
{% endfor %}</table>
{% if traces %}<p class="path">Les traces (.zip) s'ouvrent avec : playwright show-trace CHEMIN</p>{% endif %}
</body>
</html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_template = _env.from_string(_TEMPLATE)


@dataclass(frozen=True)
class _Image:
    name: str
    uri: str


def _when(moment: datetime) -> str:
    return local_text(moment)  # the schedule's zone, with its offset


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
        "action": what_to_do(record.error_code),
        "seconds": duration_text(record.seconds),
        "worker": record.worker,
        "target": record.target,
        "images": images,
        "files": files,
        "alerts": _alert_rows(record),
    }


_SAID = {True: "alerte", False: "pas d'alerte", None: "non lu"}


def _alert_rows(record: ItemRecord) -> list[dict[str, object]]:
    """Per domain, what each source said, for an item whose alerts were compared."""
    from bot.models import DOMAIN_LABELS, DOMAINS

    alerts = record.alerts or {}
    if not any(alerts.get(s) for s in ("app", "target", "reference")):
        return []
    rows: list[dict[str, object]] = []
    for d in DOMAINS:
        said = [alerts.get(s, {}).get(d) for s in ("app", "target", "reference")]
        rows.append(
            {
                "domain": DOMAIN_LABELS[d],
                "said": [_SAID[x] for x in said],
                "differs": len({x for x in said if x is not None}) > 1,
            }
        )
    return rows


def render_run_report(summary: RunSummary) -> str:
    """The report as one HTML string (images embedded)."""
    from bot.models import ItemState

    counts = [(STATE_LABELS[ItemState(state)], n) for state, n in sorted(summary.counts.items())]
    return _template.render(
        started=_when(summary.started_at),
        finished=_when(summary.finished_at),
        total=duration_text(summary.duration_seconds),
        workers=summary.workers,
        handled=len(summary.final),
        attempts=len(summary.items),
        median=duration_text(summary.median_seconds),
        p95=duration_text(summary.p95_seconds),
        per_minute=f"{summary.per_minute:.1f}".replace(".", ","),
        stop_label=STOP_LABELS.get(summary.stopped_reason, summary.stopped_reason),
        message=mask(summary.message),
        exit_code=summary.exit_code,
        exit_label=summary.verdict.rstrip("."),
        dry_run=summary.dry_run,
        recovered=summary.recovered_leases,
        unknown=summary.unknown_references,
        counts=counts,
        queue_counts=[
            (STATE_LABELS[ItemState(state)], n) for state, n in summary.queue_counts.items()
        ],
        machines=[
            (
                machine,
                ", ".join(f"{STATE_LABELS[ItemState(s)]} {n}" for s, n in sorted(states.items())),
            )
            for machine, states in summary.machines.items()
        ],
        exceptions=[_exception(r) for r in summary.exceptions],
        traces=any(str(p).endswith(".zip") for r in summary.exceptions for p in r.evidence),
        informations=[
            {"reference": r.reference, "traits": ", ".join(r.identity_info)}
            for r in summary.items
            if r.identity_info
        ],
        rows=[
            {
                "reference": r.reference,
                "attempt": r.attempt,
                "outcome": STATE_LABELS[r.outcome] + (" (essai à blanc)" if r.dry_run else ""),
                "seconds": duration_text(r.seconds),
                "target": r.target,
            }
            for r in summary.items
        ],
    )


def write_run_report(summary: RunSummary, reports_dir: Path) -> Path:
    """Write ``<reports_dir>/run-<yyyymmdd-hhmmss>.html`` (folder 0700, file 0600)."""
    private_dir(reports_dir)
    stamp = local_time(summary.started_at).strftime("%Y%m%d-%H%M%S")
    # Two runs started in the same second keep both reports.
    stem = free_stem(reports_dir, f"run-{stamp}", (".html",))
    return write_private(reports_dir / f"{stem}.html", render_run_report(summary))


# --- console --------------------------------------------------------------------------------
