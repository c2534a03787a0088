"""What every audience's module needs to add its subcommands, and argparse's own words in French.

argparse writes "usage:", "options:", "show this help message and exit" and its error messages
through ``gettext``; the users are French, so the ``icope-bot`` parser speaks French throughout.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias

__all__ = ["SubParsers", "speak_french"]

if TYPE_CHECKING:
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction

#: argparse's messages (Python 3.11) and their French.
_FRENCH = {
    "usage: ": "utilisation : ",
    "options": "options",
    "positional arguments": "arguments",
    "show this help message and exit": "afficher cette aide et quitter",
    "%(prog)s: error: %(message)s\n": "%(prog)s : erreur : %(message)s\n",
    "the following arguments are required: %s": "arguments obligatoires manquants : %s",
    "unrecognized arguments: %s": "arguments inconnus : %s",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "choix inconnu : %(value)r (possibles : %(choices)s)"
    ),
    "invalid %(type)s value: %(value)r": "valeur invalide : %(value)r",
    "expected one argument": "une valeur est attendue",
    "expected at least one argument": "au moins une valeur est attendue",
    "not allowed with argument %s": "incompatible avec l'argument %s",
    "ambiguous option: %(option)s could match %(matches)s": (
        "option ambiguë : %(option)s peut désigner %(matches)s"
    ),
    "argument %(argument_name)s: %(message)s": "argument %(argument_name)s : %(message)s",
    "one of the arguments %s is required": "l'un des arguments %s est obligatoire",
    "expected at most one argument": "une valeur au plus est attendue",
    "ignored explicit argument %r": "valeur %r ignorée",
}


def _french(message: str) -> str:
    return _FRENCH.get(message, message)


def speak_french() -> None:
    """Make argparse's own texts French (it looks ``_`` up in its module at each message)."""
    argparse._ = _french  # type: ignore[attr-defined]
