"""Every text of ``icope-bot --help`` and of each subcommand's help is French."""

from __future__ import annotations

import argparse
import re

import pytest

from bot.cli import _parser, main

#: English words that are not French words too: one of them in a help text is a leftover.
ENGLISH = frozenset(
    """
    about after all an and any are as at be before but by can default does each enter every
    files for from help how if in into is it its items item keep later line
    lines may more must new next no not of on once one only or our out print queue read rows run
    same save saved see should show some start stop that the their them then these this those
    to until usage use user wait waiting when which while will with without write you your
    """.split()  # noqa: SIM905 - a word list reads better as text
)
#: What the help legitimately writes in English: commands (in examples and in the list of
#: subcommands), options, file names and variables, the app names. ("file", "export" and "a" are
#: French words too: la file d'attente, un export, il a.)
IDENTIFIERS = re.compile(
    r"icope-bot [a-z -]+|--?[a-z][a-z-]*|[\w./<>-]*[_/.<][\w./<>*-]*|^ {4}[a-z][a-z-]*|"
    r"ICOPE et Moi|hearWHO|\{[a-z,-]+\}",
    re.MULTILINE,
)


def _all_helps() -> dict[str, str]:
    """Every parser's help text: the command's, each subcommand's, each review action's."""
    helps: dict[str, str] = {}

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        helps[name] = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(f"{name} {sub}", child)

    walk("icope-bot", _parser())
    return helps


def _english_words(text: str) -> list[str]:
    kept = IDENTIFIERS.sub(" ", text)
    return [w for w in re.findall(r"[A-Za-zÀ-ÿ']+", kept) if w.lower() in ENGLISH]


def test_every_help_text_is_french() -> None:
    helps = _all_helps()

    assert len(helps) >= 13  # the command, its subcommands, review export / import
    leftovers = {name: _english_words(text) for name, text in helps.items()}
    assert {name: words for name, words in leftovers.items() if words} == {}


def test_the_scan_sees_an_english_help_text() -> None:
    # The test above must be able to fail: an English sentence is caught.
    assert _english_words("show the robot's queue, then wait") == [
        "show",
        "the",
        "queue",
        "then",
        "wait",
    ]


def test_argparse_own_words_are_french(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("utilisation : icope-bot run")
    assert "afficher cette aide et quitter" in out
    assert "usage" not in out

    with pytest.raises(SystemExit) as exited:
        main(["run", "--limit", "0"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "erreur : argument --limit : « 0 » : un nombre entier ≥ 1 est attendu" in err
