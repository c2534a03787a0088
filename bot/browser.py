"""Which Chromium to run and how: system Chromium first, Playwright's own build otherwise.

:class:`SharedChromium` is the one Chromium a multi-worker run shares (docs/scaling.md).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.logs import logger

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright

__all__ = [
    "CHROMIUM_ARGS",
    "SharedChromium",
    "find_chromium",
    "launch_chromium",
    "launch_options",
]

#: Flags this kind of machine needs: no sandbox as root, no GPU, and no background traffic
#: (without the networking flags Chromium stalls on refused connections in a closed network).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
)

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

#: Chromium's headless shell (Debian's ``chromium-headless-shell``, Playwright's own default for
#: headless runs): the same engine without the browser's interface, half the browser process's
#: CPU per item (docs/benchmarks.md, "Third round").
_HEADLESS_SHELL = ("chromium-headless-shell",)


def find_chromium(*, headless: bool = False) -> Path | None:
    """A system Chromium: ``ICOPE_BOT_CHROMIUM`` if set, else the first one on PATH (for a
    ``headless`` run, the headless shell first); None if none."""
    explicit = os.environ.get("ICOPE_BOT_CHROMIUM")
    if explicit:
        return Path(explicit)
    for name in (*_HEADLESS_SHELL, *_CANDIDATES) if headless else _CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def launch_chromium(
    playwright: Playwright,
    *,
    headed: bool = False,
    slow_mo_ms: int = 0,
    own_signals: bool = False,
    env: dict[str, str] | None = None,
) -> Browser:
    """Start Chromium: the one launcher of the runner, the preflight, the benchmarks and tests.

    ``own_signals``: Ctrl-C, SIGTERM and SIGHUP belong to the caller (the runner), so the browser
    outlives the first Ctrl-C and the items in progress finish cleanly.
    """
    extra: dict[str, Any] = {} if env is None else {"env": env}  # the browser's environment
    return playwright.chromium.launch(
        **launch_options(headed=headed, slow_mo_ms=slow_mo_ms),
        **extra,
        handle_sigint=not own_signals,
        handle_sigterm=not own_signals,
        handle_sighup=not own_signals,
    )


def launch_options(*, headed: bool = False, slow_mo_ms: int = 0) -> dict[str, Any]:
    """Keyword arguments for ``chromium.launch`` (also pytest-playwright's launch arguments)."""
    options: dict[str, Any] = {"headless": not headed, "args": list(CHROMIUM_ARGS)}
    if slow_mo_ms:
        options["slow_mo"] = slow_mo_ms
    chromium = find_chromium(headless=not headed)
    if chromium is not None:
        options["executable_path"] = str(chromium)
    return options


# --- one Chromium for every worker of a process ---------------------------------------------------

#: The browser server: Playwright's own ``chromium.launchServer`` (public API of the Node package
#: bundled with the Python one), run by the bundled Node. Its launch options come on the first line
#: of standard input (not on the command line: ``ps`` shows a command line to every local user);
#: it prints its endpoint, and lives until its standard input closes — the bot's process ending,
#: however it ends (a ``kill -9`` included), closes it, and the server closes Chromium. It
#: ignores Ctrl-C, SIGTERM and SIGHUP as the runner's own browser did (``own_signals``): the items
#: in progress finish before the runner closes it.
_SERVER_SCRIPT = r"""
const playwright = require(process.argv[1]);
let server = null, ending = false, head = "";
const end = (code) => {
  if (ending) return;
  ending = true;
  (server ? server.close() : Promise.resolve()).catch(() => {}).finally(() => process.exit(code));
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => {});
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  if (head === null) return;
  head += chunk;
  const newline = head.indexOf("\n");
  if (newline < 0) return;
  const options = JSON.parse(head.slice(0, newline));
  head = null;
  playwright.chromium.launchServer(options).then((launched) => {
    server = launched;
    launched.on("close", () => end(3));
    process.stdout.write(launched.wsEndpoint() + "\n");
  }, (error) => {
    process.stderr.write(String(error && error.message) + "\n");
    process.exit(2);
  });
});
process.stdin.on("end", () => end(0));
"""

_START_TIMEOUT_S = 180.0  # Playwright's own launch timeout: a loaded machine starts slowly


class SharedChromium:
    """One Chromium for every worker thread of this process; each worker gets its own context.

    Playwright's sync API belongs to the thread that started it, so each worker keeps its own
    Playwright (its driver) and *connects* to this browser (:meth:`connect`) instead of launching
    one. The server gives each connection only the contexts it created (a worker cannot see,
    list or close another's) and closes them when that connection ends; a connection cannot
    close the browser itself. Cookies, storage, cache, downloads and renderer processes are per
    context, so a crashed page or a closed context costs only its own worker's item.

    The server listens on 127.0.0.1 only, at a random path (128 bits) that never leaves this
    process: not logged, not written. If Chromium dies, the next worker to need it starts a
    new one (:meth:`endpoint`); the others reconnect to it.
    """

    def __init__(self, *, headed: bool = False, env: dict[str, str] | None = None) -> None:
        self.headed = headed
        self.env = env
        self.launches = 0  # servers started (a relaunch after a crash counts)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._endpoint = ""
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)

    @property
    def pid(self) -> int | None:
        """The server's process (Chromium is its child); None when not running."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def endpoint(self, failed: str = "") -> str:
        """The running server's endpoint, started if none runs or if ``failed`` (an endpoint a
        connection to just failed) belongs to a server that has ended meanwhile."""
        with self._lock:
            proc = self._proc
            if failed and failed == self._endpoint and proc is not None:
                # A dead Chromium takes its server with it within moments; a live one stays.
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    return self._endpoint
            if self._proc is None or self._proc.poll() is not None:
                self._stop()
                self._start()
            return self._endpoint

    def open_context(
        self, playwright: Playwright, *, slow_mo_ms: int = 0, **context_options: Any
    ) -> tuple[Browser, BrowserContext]:
        """This thread's connection to the shared Chromium (started on first use) and a new
        context of its own there.

        Chromium may die between two items, or while this worker connects: the connection, or
        the new context on it, then fails. The first worker to see it starts a new Chromium
        (:meth:`endpoint`) and tries once more; a second failure is the caller's.
        """
        from playwright.sync_api import Error as PlaywrightError

        options: dict[str, Any] = {"timeout": _START_TIMEOUT_S * 1000}
        if slow_mo_ms:
            options["slow_mo"] = slow_mo_ms
        endpoint = self.endpoint()
        for last_try in (False, True):
            browser: Browser | None = None
            try:
                browser = playwright.chromium.connect(endpoint, **options)
                return browser, browser.new_context(**context_options)
            except PlaywrightError as e:
                if browser is not None:
                    with contextlib.suppress(Exception):
                        browser.close()
                if last_try:
                    raise
                logger.info(
                    "Navigateur partagé injoignable ({}) : nouvelle connexion", type(e).__name__
                )
                endpoint = self.endpoint(failed=endpoint)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close Chromium and its server (every worker's context with it)."""
        with self._lock:
            self._stop()

    # --- the server process ---------------------------------------------------------------------

    def _start(self) -> None:
        node, cli = _driver_executable()
        options = launch_options(headed=self.headed)
        js: dict[str, Any] = {
            "headless": options["headless"],
            "args": options["args"],
            "host": "127.0.0.1",  # never another machine's to reach
            "port": 0,
            "handleSIGINT": False,
            "handleSIGTERM": False,
            "handleSIGHUP": False,
            "timeout": _START_TIMEOUT_S * 1000,
        }
        if "executable_path" in options:
            js["executablePath"] = options["executable_path"]
        if self.env is not None:
            js["env"] = self.env
        # The server's own environment is the bot's: TMPDIR is the run's private folder (see
        # bot.runner.recovery.browser_tmp), where Playwright puts Chromium's profile.
        proc = subprocess.Popen(
            [node, "-e", _SERVER_SCRIPT, str(Path(cli).parent)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C in the terminal is the runner's, not the browser's
        )
        self._proc = proc
        self._stderr.clear()
        threading.Thread(target=self._read_stderr, args=(proc,), daemon=True).start()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(js).encode() + b"\n")
        proc.stdin.flush()
        endpoint = self._read_endpoint(proc)
        if not endpoint.startswith("ws://"):
            self._stop()
            detail = " | ".join(self._stderr) or "aucun message"
            raise RuntimeError(f"le navigateur partagé n'a pas démarré ({detail})")
        self._endpoint = endpoint
        self.launches += 1
        logger.debug("Navigateur partagé démarré (lancement {})", self.launches)

    def _read_endpoint(self, proc: subprocess.Popen[bytes]) -> str:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        line = b""
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return ""
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""
            line += chunk
        return line.decode().strip()

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._stderr.append(raw.decode(errors="replace").rstrip())

    def _stop(self) -> None:
        proc, self._proc, self._endpoint = self._proc, None, ""
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the server closes Chromium, then exits
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            logger.warning("Navigateur partagé arrêté de force")
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def _driver_executable() -> tuple[str, str]:
    """The Node and the CLI script that ship with the playwright package.

    Playwright has no public function for them: its private one first, then the package's
    known layout (driver/node, driver/package/cli.js), so a renamed private module does not
    stop a multi-worker run."""
    try:
        from playwright._impl._driver import compute_driver_executable

        node, cli = compute_driver_executable()
        return str(node), str(cli)
    except (ImportError, AttributeError, ValueError, TypeError):
        import playwright

        driver = Path(playwright.__file__).parent / "driver"
        return str(driver / "node"), str(driver / "package" / "cli.js")
