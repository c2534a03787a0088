"""What a production install holds: the bot runs without the ``sandbox`` extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Import names of the ``sandbox`` extra's libraries, and the two packages that need them.
SANDBOX_ONLY = ("fastapi", "starlette", "uvicorn", "multipart", "python_multipart", "aiosmtpd")
SANDBOX_ONLY += ("pymap", "sandbox", "mailpipe")

# Run in a fresh interpreter: the test session itself has imported the sandbox already.
_IMPORT_EVERY_BOT_MODULE = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    blocked = set(sys.argv.pop().split(","))

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ImportError(f"{name}: not installed (sandbox extra)")
            return None

    sys.meta_path.insert(0, Blocker())
    import bot
    # A __main__ module runs the command when imported: main(["--help"]) below does that.
    walked = pkgutil.walk_packages(bot.__path__, "bot.")
    names = sorted(m.name for m in walked if not m.name.endswith(".__main__"))
    for name in names:
        importlib.import_module(name)
    print(len(names), "modules")
    from bot.cli import main
    main(["--help"])
    """
)


def test_every_bot_module_imports_without_the_sandbox_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERY_BOT_MODULE, ",".join(SANDBOX_ONLY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    count = int(done.stdout.split(" modules")[0])
    assert count > 50  # the walk found the packages, not an empty folder
    assert "utilisation : icope-bot" in done.stdout


def test_sandbox_libraries_are_an_extra_not_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {
            r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip() for r in requirements
        }

    runtime = names(project["dependencies"])
    extra = names(project["optional-dependencies"]["sandbox"])
    for library in ("fastapi", "uvicorn", "python-multipart", "aiosmtpd", "pymap"):
        assert library in extra
        assert library not in runtime
    assert "jinja2" in runtime  # the run report is rendered with it


def test_packages_ship_their_type_hints() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]
    for package in ("bot", "sandbox", "mailpipe"):
        assert (ROOT / package / "py.typed").is_file()
        assert "py.typed" in package_data[package]
