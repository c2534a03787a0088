"""Realistic sample ICOPE et Moi exports: fictitious usagers, plausible answers, the app's alerts.

Everybody's tests and the demo use these. What makes them realistic:

- French headers and cells, in the format of ``mappings/icope_et_moi.yaml`` (dates jj/mm/aaaa,
  Oui/Non, decimal commas, "Non réalisé"); XLSX with real dates and numbers, CSV as French Excel
  writes it (``;``, UTF-8 with BOM) unless told otherwise;
- people aged 60–95 with French names (accents, hyphens, particles), a used name for many married
  women, birth places in France or abroad (INSEE 99xxx);
- per-domain alert rates close to published screening results (shared/ICOPE_STEP1.md), with the
  right share of people without any alert (≈ 16 %): a fraction of people is drawn "robust", the
  others domain by domain;
- the app's alerts computed with :func:`bot.icope.alerts_for`, so they agree with the reference
  rules unless ``discordant`` rows are asked for.

Nothing here is real. INS numbers follow the NIR layout with a valid key but order number ``000``,
which INSEE never assigns; phone numbers are in the ranges ARCEP reserves for fiction
(01 99 00 xx xx, 06 39 98 xx xx); e-mail addresses use ``example.org`` (RFC 2606).
"""

from bot.sample._export import SampleExport, generate, stream_export, write_export
from bot.sample._generator import ERROR_KINDS, TARGET_ANY, TARGET_RATES, Person

__all__ = [
    "ERROR_KINDS",
    "TARGET_ANY",
    "TARGET_RATES",
    "Person",
    "SampleExport",
    "generate",
    "stream_export",
    "write_export",
]
