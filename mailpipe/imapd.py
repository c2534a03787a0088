"""A real IMAP server over the pipeline's Maildirs: Dovecot when installed, pymap otherwise.

Dovecot (Debian package ``dovecot-imapd``) is what a production mailbox most likely runs; it is
started in the foreground with a throw-away configuration written under the pipeline's root and
its own ``base_dir``, so it never touches the system's Dovecot. pymap (pure Python, a dev
dependency) serves the same Maildirs on machines without Dovecot 2.3.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from mailpipe.maildir import MailOwner, create_maildir

__all__ = ["DovecotServer", "ImapServer", "PymapServer", "dovecot_version", "free_port"]

HOST = "127.0.0.1"
_START_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def dovecot_version() -> tuple[int, int] | None:
    """Installed Dovecot's (major, minor), or None when there is none."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"(\d+)\.(\d+)", out.stdout.strip())
    return (int(found[1]), int(found[2])) if found else None


class ImapServer:
    """A started IMAP server process serving ``mailbox_path(user)`` for each user."""

    name = "imap"

    def __init__(self, root: Path, users: dict[str, str]) -> None:
        self.root = root
        self.users = users
        self.port = 0
        self.owner = MailOwner.current()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = root / f"{self.name}.log"

    def mailbox_path(self, user: str) -> Path:
        """The Maildir that holds ``user``'s INBOX."""
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write configuration and user files for ``self.port``."""

    def _create_mailboxes(self) -> None:
        for user in self.users:
            create_maildir(self.mailbox_path(user), self.owner)

    def start(self) -> None:
        """Create the mailboxes, start the server on a free port, wait until it greets clients."""
        last_error = ""
        for _attempt in range(3):  # another process may grab the free port first
            self.port = free_port()
            self._prepare()
            self._create_mailboxes()
            # The server's log names the mailboxes and the login attempts: private.
            fd = os.open(self._log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "ab") as log:
                self._process = subprocess.Popen(
                    self._command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.root
                )
            if self._wait_until_ready():
                return
            last_error = self._log.read_text(errors="replace")[-2000:]
            self.stop()
            if "in use" not in last_error:
                break
        raise RuntimeError(f"le serveur IMAP local ({self.name}) n'a pas démarré :\n{last_error}")

    def _wait_until_ready(self) -> bool:
        process = self._process
        if process is None:
            return False
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                conn = imaplib.IMAP4(HOST, self.port, timeout=2)
            except (OSError, imaplib.IMAP4.error):
                # Not listening or not greeting yet; waiting on the process notices if it died.
                try:
                    process.wait(timeout=0.02)
                except subprocess.TimeoutExpired:
                    # Dovecot stays up when a service cannot start; its log says so.
                    if "Fatal:" in self._log.read_text(errors="replace"):
                        return False
                    continue
                return False
            else:
                conn.shutdown()
                return True
        return False

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None


class DovecotServer(ImapServer):
    """Dovecot 2.3 run in the foreground with a configuration of its own."""

    name = "dovecot"

    def __init__(self, root: Path, users: dict[str, str]) -> None:
        super().__init__(root, users)
        self.binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        self.mail_root = root / "mail"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            # Dovecot refuses to read mail or greet clients as root: mail files belong to
            # "nobody", login processes run as Dovecot's own unprivileged user.
            nobody = pwd.getpwnam("nobody")
            self.owner = MailOwner(nobody.pw_uid, nobody.pw_gid)
            self.internal_user = "root"
            self.login_user = _first_user("dovenull", "nobody")
        else:
            self.internal_user = self.login_user = pwd.getpwuid(os.getuid()).pw_name
        self.internal_group = grp.getgrgid(os.getgid()).gr_name

    def mailbox_path(self, user: str) -> Path:
        return self.mail_root / user / "Maildir"

    def _prepare(self) -> None:
        self.mail_root.mkdir(mode=0o711, exist_ok=True)
        run = self.root / "dovecot-run"
        run.mkdir(mode=0o755, exist_ok=True)
        (self.root / "dovecot-state").mkdir(mode=0o700, exist_ok=True)
        passwd = self.root / "dovecot-users"
        passwd.write_text(
            "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in self.users.items())
        )
        passwd.chmod(0o600)
        if self.as_root:
            # The mail process chroots into the mail root before dropping to "nobody", so
            # it needs no access to the folders above (pytest's are private to root).
            home, chroot = (
                "/%u",
                f"mail_chroot = {self.mail_root}\nvalid_chroot_dirs = {self.mail_root}\n",
            )
        else:
            # Unprivileged Dovecot: no process may chroot, the mail is read as ourselves.
            home = f"{self.mail_root}/%u"
            chroot = "service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\n"
        config = self.root / "dovecot.conf"
        config.write_text(
            _DOVECOT_CONF.format(
                base_dir=run,
                state_dir=self.root / "dovecot-state",
                instance=f"icope-mailpipe-{secrets.token_hex(4)}",
                log=self._log,
                internal_user=self.internal_user,
                internal_group=self.internal_group,
                login_user=self.login_user,
                passwd=passwd,
                uid=self.owner.uid,
                gid=self.owner.gid,
                home=home,
                chroot=chroot,
                port=self.port,
            )
        )
        config.chmod(0o600)  # written by us, read by the server started as us (or as root)

    def _command(self) -> list[str]:
        return [self.binary, "-F", "-c", str(self.root / "dovecot.conf")]


_DOVECOT_CONF = """\
# Throw-away Dovecot for icope-bot's local mail pipeline (tests and demo). Not for production.
base_dir = {base_dir}
state_dir = {state_dir}
instance_name = {instance}
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests try wrong passwords on purpose: no failure delay, and no per-IP penalty slowing the
# logins that follow (anvil's penalty socket closed).
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
log_path = {log}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
{chroot}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class PymapServer(ImapServer):
    """pymap's Maildir backend in a subprocess of this Python."""

    name = "pymap"

    def __init__(self, root: Path, users: dict[str, str]) -> None:
        super().__init__(root, users)
        self.base = root / "pymap"

    def mailbox_path(self, user: str) -> Path:
        return self.base / _safe_dir(user)

    def _prepare(self) -> None:
        self.base.mkdir(mode=0o700, exist_ok=True)
        passwd = self.base / "pymap-etc-passwd"
        shadow = self.base / "pymap-etc-shadow"
        passwd.write_text(
            "".join(f"{_escape(user)}:::::{_safe_dir(user)}:\r\n" for user in self.users)
        )
        shadow.write_text(
            "".join(
                f"{_escape(user)}:{_escape(_pbkdf2_sha256(password))}:::::::\r\n"
                for user, password in self.users.items()
            )
        )
        for f in (passwd, shadow):
            f.chmod(0o600)

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            "import sys; from pymap.main import main; sys.argv[0] = 'pymap'; main()",
            "--no-service",
            "admin",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--no-tls",
            "maildir",
            str(self.base),
        ]


def _first_user(*names: str) -> str:
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError(f"aucun des comptes système {names} n'existe pour lancer Dovecot")


def _safe_dir(user: str) -> str:
    return re.sub(r"[^\w.@+-]", "_", user)


def _escape(field: str) -> str:
    return field.replace(":", "\\:")


def _pbkdf2_sha256(password: str) -> str:
    """A password hash in the format pymap checks (passlib's when installed, pysasl's otherwise)."""
    rounds = 1000  # throw-away local accounts: keep logins fast
    try:
        from passlib.hash import pbkdf2_sha256
    except ImportError:
        from pysasl.hashing import BuiltinHash

        return BuiltinHash(rounds=rounds).hash(password)
    return str(pbkdf2_sha256.using(rounds=rounds).hash(password))
