"""Exceptions for a person: the review file out (XLSX + CSV), the reviewer's decisions back in.

::

    queue (needs_review, failed, invalid) ──export──► reviews/exceptions-<date>.xlsx / .csv
                                                        │  the reviewer fills « Décision »
    queue ◄──import (one transaction, reviewer:<name>)──┘  valider | relancer | rejeter | corriger

The file holds health data: its folder is 0700, the files 0600, and nothing of its content goes to
the logs (references and counts only). Cells are written as text, never as formulas, and a CSV
cell that Excel could run (``= + - @``, tab, CR first) is prefixed with ``'``.

An import is all or nothing: every row is checked first (known decision, unchanged reference,
item not changed since the export, state that allows the decision, corrected data valid), and
only a clean file is applied, in one queue transaction.
"""

from bot.review.decisions import ImportReport, Refusal, import_decisions
from bot.review.export import ExportResult, export_exceptions
from bot.review.layout import REVIEW_STATES, Decision, ReviewFileError

__all__ = [
    "REVIEW_STATES",
    "Decision",
    "ExportResult",
    "ImportReport",
    "Refusal",
    "ReviewFileError",
    "export_exceptions",
    "import_decisions",
]
