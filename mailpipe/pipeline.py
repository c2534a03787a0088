"""The local mail system: an SMTP server delivering into Maildirs, and an IMAP server reading them.

It stands in for the bot account's mailbox in tests and in the demo: the sandbox sends its
one-time codes over real SMTP, the bot reads them over real IMAP. Recipients the pipeline does
not know are refused at ``RCPT TO``, as a real mail server would.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from types import TracebackType
from typing import Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailpipe.imapd import HOST, DovecotServer, ImapServer, PymapServer, dovecot_version
from mailpipe.maildir import deliver_to_maildir

__all__ = ["ImapBackend", "MailPipeline", "start_mail_pipeline"]

_log = logging.getLogger(__name__)

#: Which IMAP server to run; ``auto`` = Dovecot 2.3 when installed, pymap otherwise.
ImapBackend = Literal["auto", "dovecot", "pymap"]


class MailPipeline:
    """A running local mail system; stop it with :meth:`stop` or use it as a context manager."""

    host = HOST

    def __init__(
        self, root: Path, users: dict[str, str], aliases: dict[str, str], imap: ImapServer
    ) -> None:
        self.root = root
        self.users = dict(users)
        #: Extra addresses and the mailbox (user) they are delivered to.
        self.aliases = {a.lower(): u for a, u in aliases.items()}
        self._imap = imap
        self._smtp: _SmtpController | None = None
        self.smtp_port = 0

    @property
    def imap_port(self) -> int:
        return self._imap.port

    @property
    def imap_server(self) -> str:
        """``dovecot`` or ``pymap``."""
        return self._imap.name

    def add_address(self, address: str, user: str) -> None:
        """Deliver mail for ``address`` into ``user``'s mailbox from now on (an alias)."""
        if user not in self.users:
            raise KeyError(f"boîte aux lettres inconnue : {user}")
        self.aliases[address.lower()] = user

    def mailbox_of(self, address: str) -> str | None:
        """The user whose mailbox receives mail for ``address``, or None if nobody does."""
        for user in self.users:
            if user.lower() == address.lower():
                return user
        return self.aliases.get(address.lower())

    def deliver(
        self, to: str, message: bytes | EmailMessage, *, received_at: datetime | None = None
    ) -> Path:
        """Put a message straight into the mailbox of ``to`` (as if it arrived at ``received_at``)."""
        user = self.mailbox_of(to)
        if user is None:
            raise KeyError(f"aucune boîte aux lettres pour ce destinataire : {to}")
        raw = message.as_bytes(policy=SMTP_POLICY) if isinstance(message, EmailMessage) else message
        return deliver_to_maildir(self._imap.mailbox_path(user), raw, self._imap.owner, received_at)

    def start(self) -> MailPipeline:
        self._imap.start()
        try:
            self._smtp = _SmtpController(_Delivery(self), hostname=HOST, port=0)
            self._smtp.start()
        except BaseException:
            self._imap.stop()
            raise
        self.smtp_port = self._smtp.port
        return self

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        self._imap.stop()

    def __enter__(self) -> MailPipeline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_mail_pipeline(
    root: Path,
    users: dict[str, str],
    *,
    aliases: dict[str, str] | None = None,
    imap: ImapBackend = "auto",
) -> MailPipeline:
    """Start SMTP + IMAP on free ports of 127.0.0.1, with one mailbox per user (address → password).

    ``aliases`` maps extra addresses to the user whose mailbox receives them (several bot
    accounts sharing one mailbox). The returned pipeline is running; use it in a ``with`` block
    or call :meth:`MailPipeline.stop`.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    unknown = {u for u in (aliases or {}).values() if u not in users}
    if unknown:
        raise ValueError(f"alias vers une boîte inconnue : {sorted(unknown)}")
    for user, password in users.items():
        if not user or any(c in user + password for c in ":\r\n/"):
            raise ValueError(
                "nom ou mot de passe de boîte invalide (ni « : », ni « / », ni saut de ligne)"
            )
    if imap == "auto" and dovecot_version() == (2, 3):
        try:
            return MailPipeline(root, users, aliases or {}, DovecotServer(root, users)).start()
        except RuntimeError as e:
            _log.warning("Dovecot n'a pas démarré, repli sur pymap : %s", e)
    server = DovecotServer(root, users) if imap == "dovecot" else PymapServer(root, users)
    return MailPipeline(root, users, aliases or {}, server).start()


class _SmtpController(Controller):
    """aiosmtpd's threaded controller, on the free port the OS picked (``port=0``)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        # aiosmtpd ships py.typed but leaves this method unannotated.
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _Delivery:
    """aiosmtpd handler: accept known recipients, deliver each message into their Maildir."""

    def __init__(self, pipeline: MailPipeline) -> None:
        self.pipeline = pipeline

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.pipeline.mailbox_of(address) is None:
            return "550 5.1.1 Destinataire inconnu"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        for rcpt in envelope.rcpt_tos:
            # What a delivering MTA adds, so the mailbox shows who the copy was for.
            trace = f"Return-Path: <{envelope.mail_from}>\r\nDelivered-To: {rcpt}\r\n".encode()
            self.pipeline.deliver(rcpt, trace + content)
        return "250 Message accepted for delivery"
