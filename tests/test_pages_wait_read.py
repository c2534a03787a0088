"""A wait's read of the screen is the screen's read (one round trip): it must hold the whole
page, never the part the browser had parsed when the awaited element appeared. A results page
whose rows come after a pause is read with every row (else: "nobody found", a second dossier)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from bot.pages.search import ResultsPage
from bot.pages.session import TargetSession
from tests.fixtures.settings import make_settings

_HEAD = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Recherche</title>
</head><body><h1>Rechercher un usager</h1>
<form><label>Nom de naissance <input name="n"></label><button>Rechercher</button></form>
<table><thead><tr><th>Nom de naissance</th><th>Nom utilisé</th><th>Prénoms</th>
<th>Date de naissance</th><th>Sexe</th><th>Lieu de naissance (INSEE)</th><th>INS</th>
<th>Actions</th></tr></thead><tbody>"""
_ROW = """<tr><td>MARTIN{n}</td><td></td><td>Jeanne</td><td>02/03/1950</td><td>Féminin</td>
<td>37261</td><td></td><td><a href="/usagers/{n}">Ouvrir le dossier</a></td></tr>"""
_TAIL = "</tbody></table></body></html>"

#: Seconds between the table's header and its rows.
PAUSE = 1.0


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(_HEAD.encode())
        self.wfile.flush()
        time.sleep(PAUSE)
        self.wfile.write(("".join(_ROW.format(n=n) for n in range(3)) + _TAIL).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/usagers?n=MARTIN"
    finally:
        server.shutdown()
        server.server_close()


def test_results_whose_rows_come_late_are_read_with_every_row(
    browser: Browser, slow_page: str, tmp_path: Path
) -> None:
    context = browser.new_context()
    try:
        session = TargetSession(context, make_settings(tmp_path, target=slow_page))
        started = time.monotonic()
        session.page.goto(slow_page, wait_until="commit")  # as a click returns: page committed
        results = session.expect(ResultsPage)
        rows = results.rows()
        assert [r.birth_name for r in rows] == ["MARTIN0", "MARTIN1", "MARTIN2"]
        assert time.monotonic() - started >= PAUSE  # the header had come alone meanwhile
    finally:
        context.close()
