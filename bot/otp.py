"""The second login factor: where the one-time code comes from.

The real e-parcours tool sends a code by e-mail at each login. Configuration
(``Settings.otp_source``) picks the source:

- ``imap``: read it from the bot account's mailbox (production). Only a mail addressed to this
  account and arrived after the login started counts, newest first; the mail used is marked
  seen (and optionally moved), so two bots logging in at the same time never take each other's
  code and a code is never used twice.
- ``prompt``: ask the assistant in the terminal (supervised run).
- ``totp``: compute it from a shared secret (authenticator-app targets).
- ``none``: the target asks for no code.

Neither the code nor the mail's body nor an address ever reaches the log.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import imaplib
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pyotp
import yaml
from pydantic import SecretStr, ValidationError

from bot.errors import MappingError, OtpSetupError, SystemException
from bot.logs import logger
from bot.pages.mapping import OtpEmailRules  # the mapping's section; re-exported here

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = [
    "ImapCodeSource",
    "OtpEmailRules",
    "OtpSource",
    "PromptCodeSource",
    "TotpCodeSource",
    "load_otp_email_rules",
    "otp_source_from_settings",
]


class OtpSource(Protocol):
    """Something that can hand over the one-time code of a login that started at a given time."""

    def code_for(self, login_started: datetime) -> str:
        """The code for the login started at ``login_started``; SystemException if none comes."""
        ...


# --- what a code e-mail looks like (mappings) ---------------------------------------------------


def load_otp_email_rules(mapping: Path) -> OtpEmailRules:
    """The ``otp_email:`` section of a mapping file; defaults when the file or section is absent."""
    if not mapping.exists():
        return OtpEmailRules()
    try:
        data = yaml.safe_load(mapping.read_text(encoding="utf-8")) or {}
        return OtpEmailRules.model_validate(data.get("otp_email") or {})
    except (OSError, yaml.YAMLError, ValidationError) as e:
        raise MappingError(
            f"La section otp_email du fichier de correspondance {mapping.name} est invalide : {e}"
        ) from e


# --- imap ---------------------------------------------------------------------------------------


class ImapCodeSource:
    """Waits for the code e-mail in the bot account's mailbox and takes its code."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: SecretStr,
        tls: bool = False,
        address: str = "",
        folder: str = "INBOX",
        move_to: str | None = None,
        rules: OtpEmailRules | None = None,
        timeout: float = 60.0,
        clock_skew: timedelta = timedelta(seconds=5),
        poll_intervals: tuple[float, float] = (0.5, 2.0),
        connect_timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.tls = tls
        #: Only mails whose To header holds this address count (several bots, one mailbox).
        self.address = (address or (user if "@" in user else "")).strip().lower()
        self.folder = folder
        self.move_to = move_to
        self.rules = rules or OtpEmailRules()
        self.timeout = timeout
        #: INTERNALDATE is the mail server's clock, to the second; the login start is ours.
        self.clock_skew = clock_skew
        self.first_interval, self.max_interval = poll_intervals
        self.connect_timeout = connect_timeout
        #: Mailbox checks made by the last ``code_for`` call (observability; tests read it).
        self.polls = 0
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Stop the waits in progress and refuse later ones (the run is shutting down)."""
        self._cancelled.set()

    def code_for(self, login_started: datetime) -> str:
        """The code of the newest fitting mail arrived since ``login_started`` (naive = local time).

        Checks the mailbox at once, then after 0.5 s, 1 s, 2 s, 2 s… until ``timeout``; raises
        SystemException ``otp_unavailable`` when no fitting mail came, ``otp_mailbox`` when the
        mailbox cannot be read.
        """
        since = login_started.astimezone(UTC) - self.clock_skew
        started = time.monotonic()
        deadline = started + self.timeout
        interval = self.first_interval
        self.polls = 0
        skipped: set[bytes] = set()  # mails already seen not to fit this login
        with _Mailbox(self) as box:
            while True:
                self.polls += 1
                found = box.newest_code(since, skipped)
                if found is not None:
                    uid, code = found
                    box.consume(uid)
                    logger.info(
                        "Code de connexion lu dans la boîte du robot après {:.1f} s ({} vérification(s))",
                        time.monotonic() - started,
                        self.polls,
                    )
                    return code
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                # Back off between checks: a mail usually arrives within seconds.
                if self._cancelled.wait(min(interval, remaining)):
                    raise SystemException(
                        "L'attente du code de connexion a été interrompue (arrêt du robot).",
                        code="otp_unavailable",
                    )
                interval = min(interval * 2, self.max_interval)
        logger.warning(
            "Aucun e-mail de code de connexion après {:.0f} s ({} vérification(s))",
            self.timeout,
            self.polls,
        )
        raise SystemException(
            f"Aucun e-mail contenant le code de connexion n'est arrivé dans la boîte du robot "
            f"en {self.timeout:.0f} secondes. Vérifiez l'adresse e-mail du compte du robot "
            "sur l'outil e-parcours et la boîte aux lettres configurée.",
            code="otp_unavailable",
        )


class _Mailbox:
    """One IMAP session on the configured folder, with the few operations code_for needs."""

    def __init__(self, source: ImapCodeSource) -> None:
        self.source = source
        self._conn: imaplib.IMAP4 | None = None

    @property
    def conn(self) -> imaplib.IMAP4:
        if self._conn is None:
            raise imaplib.IMAP4.error("la boîte aux lettres n'est pas ouverte")
        return self._conn

    def __enter__(self) -> _Mailbox:
        s = self.source
        try:
            if s.tls:
                self._conn = imaplib.IMAP4_SSL(s.host, s.port, timeout=s.connect_timeout)
            else:
                self._conn = imaplib.IMAP4(s.host, s.port, timeout=s.connect_timeout)
            self.conn.login(s.user, s._password.get_secret_value())
            typ, _ = self.conn.select(_mailbox_name(s.folder))
            if typ != "OK":
                raise imaplib.IMAP4.error(f"dossier {s.folder!r} introuvable")
        except (OSError, imaplib.IMAP4.error) as e:
            self._close()
            raise SystemException(
                "Impossible d'ouvrir la boîte aux lettres du robot pour lire le code de "
                f"connexion ({type(e).__name__}). Vérifiez le serveur IMAP, l'identifiant et le "
                "mot de passe de la boîte.",
                code="otp_mailbox",
            ) from e
        logger.debug("Boîte aux lettres du robot ouverte")
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(OSError, imaplib.IMAP4.error):  # the session is over anyway
            self._conn.logout()
        self._conn = None

    def newest_code(self, since: datetime, skipped: set[bytes]) -> tuple[bytes, str] | None:
        """The newest fitting mail's UID and code, or None; mails that do not fit join ``skipped``."""
        try:
            return self._newest_code(since, skipped)
        except (OSError, imaplib.IMAP4.error) as e:
            raise SystemException(
                f"La boîte aux lettres du robot ne répond plus ({type(e).__name__}).",
                code="otp_mailbox",
            ) from e

    def _newest_code(self, since: datetime, skipped: set[bytes]) -> tuple[bytes, str] | None:
        conn = self.conn
        s = self.source
        # NOOP makes the server look for new mail (a SEARCH alone may answer from its last view).
        _check(*conn.noop())
        # SINCE has day granularity in the server's time zone: take a day of margin, the exact
        # arrival time is checked below.
        criteria = ["UNSEEN", "SINCE", _imap_date(since - timedelta(days=1))]
        if s.address:
            criteria += ["TO", _quote(s.address)]
        typ, data = conn.uid("SEARCH", *criteria)
        _check(typ, data)
        uids = [u for u in (data[0] or b"").split() if u not in skipped]
        if not uids:
            return None
        typ, data = conn.uid(
            "FETCH",
            b",".join(uids).decode(),
            "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (TO FROM SUBJECT)])",
        )
        _check(typ, data)
        candidates: list[tuple[datetime, int, bytes]] = []
        for attributes, header in _fetched(data):
            uid = _attribute(rb"UID (\d+)", attributes)
            arrived = _internaldate(attributes)
            if uid is None or arrived is None or uid in skipped:
                continue
            if arrived >= since and self._fits(header):
                candidates.append((arrived, int(uid), uid))
            else:
                skipped.add(uid)
        for _arrived, _n, uid in sorted(candidates, reverse=True):
            typ, data = conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
            _check(typ, data)
            for _attributes, raw in _fetched(data):
                code = self.source.rules.find_code(_readable_text(raw))
                if code is not None:
                    return uid, code
            logger.warning(
                "Un e-mail de connexion ne contient aucun code reconnu : vérifiez "
                "otp_email.code_pattern dans la correspondance de la cible"
            )
            skipped.add(uid)
        return None

    def _fits(self, header: bytes) -> bool:
        s = self.source
        msg = email.message_from_bytes(header, policy=email.policy.default)
        if s.address:
            recipients = {addr.lower() for _name, addr in getaddresses(msg.get_all("To", []))}
            if s.address not in recipients:
                return False
        subject = str(msg.get("Subject", ""))
        if s.rules.subject_contains.lower() not in subject.lower():
            return False
        return s.rules.sender_contains.lower() in str(msg.get("From", "")).lower()

    def consume(self, uid: bytes) -> None:
        """Mark the mail seen (and move it when configured) so its code is never used again."""
        conn = self.conn
        s = self.source
        try:
            typ, data = conn.uid("STORE", uid.decode(), "+FLAGS.SILENT", r"(\Seen)")
            _check(typ, data)
            if s.move_to:
                self._move(uid.decode(), s.move_to)
        except (OSError, imaplib.IMAP4.error) as e:
            # The code is in hand; a mail left unseen only costs a skipped mail next time.
            logger.warning("E-mail de code non marqué comme lu ({})", type(e).__name__)

    def _move(self, uid: str, folder: str) -> None:
        conn = self.conn
        conn.create(_mailbox_name(folder))  # NO when it exists already: fine
        if "MOVE" in conn.capabilities:
            _check(*conn.uid("MOVE", uid, _mailbox_name(folder)))
            return
        _check(*conn.uid("COPY", uid, _mailbox_name(folder)))
        _check(*conn.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"))
        if "UIDPLUS" in conn.capabilities:
            _check(*conn.uid("EXPUNGE", uid))
        else:
            _check(*conn.expunge())


def _check(typ: str, data: Sequence[object]) -> None:
    if typ != "OK":
        raise imaplib.IMAP4.error(f"réponse IMAP {typ}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mailbox_name(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 §5.1.3), quoted: "Codes utilis&AOk-s"."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            utf16 = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(utf16).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return _quote("".join(out))


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _imap_date(moment: datetime) -> str:
    # English month names whatever the locale: IMAP's date format is not localised.
    return f"{moment.day}-{_MONTHS[moment.month - 1]}-{moment.year}"


def _fetched(data: list[object]) -> list[tuple[bytes, bytes]]:
    """(attributes, literal) per message of a FETCH answer.

    Servers put attributes before or after the literal (Dovecot: ``UID`` before, pymap: after);
    text that follows a literal is added to that message's attributes.
    """
    out: list[list[bytes]] = []
    for part in data:
        if isinstance(part, tuple) and len(part) == 2:
            out.append([bytes(part[0]), bytes(part[1])])
        elif isinstance(part, bytes) and out:
            out[-1][0] += b" " + part
    return [(a, b) for a, b in out]


def _attribute(pattern: bytes, attributes: bytes) -> bytes | None:
    found = re.search(pattern, attributes)
    return found.group(1) if found else None


_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"'
)


def _internaldate(attributes: bytes) -> datetime | None:
    found = _INTERNALDATE.search(attributes)
    if found is None:
        return None
    day, month, year, hh, mm, ss, sign, oh, om = (g.decode() for g in found.groups())
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
    local = datetime(
        int(year), _MONTHS.index(month.title()) + 1, int(day), int(hh), int(mm), int(ss)
    )
    return (local - offset).replace(tzinfo=UTC)


def _readable_text(raw: bytes) -> str:
    """Subject and text of a mail (HTML parts reduced to their text), for the code pattern."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    texts = [str(msg.get("Subject", ""))]
    for part in msg.walk():
        if part.get_content_maintype() != "text" or part.is_attachment():
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError):  # unknown charset: read what can be read
            # A text part is never multipart: its decoded payload is bytes.
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        texts.append(_html_text(content) if part.get_content_subtype() == "html" else content)
    return "\n".join(texts)


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def _html_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    return " ".join(parser.chunks)


# --- prompt -------------------------------------------------------------------------------------


class PromptCodeSource:
    """Asks the assistant at the terminal for the code received by e-mail (supervised runs)."""

    _terminal = threading.Lock()  # several workers: one question on screen at a time

    def __init__(
        self,
        *,
        account: str = "",
        rules: OtpEmailRules | None = None,
        max_attempts: int = 3,
        ask: Callable[[str], str] = input,
        say: Callable[[str], None] = print,
    ) -> None:
        self.account = account
        self.rules = rules or OtpEmailRules()
        self.max_attempts = max_attempts
        self._ask = ask
        self._say = say

    def code_for(self, login_started: datetime) -> str:
        whose = f" du compte « {self.account} »" if self.account else ""
        question = f"Code de connexion e-parcours reçu par e-mail{whose} : "
        with self._terminal:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    typed = "".join(self._ask(question).split())
                except EOFError as e:
                    raise SystemException(
                        "Aucun terminal pour saisir le code de connexion : pour un passage non "
                        "surveillé, choisissez otp_source=imap.",
                        code="otp_unavailable",
                    ) from e
                left = self.max_attempts - attempt
                if not typed:
                    self._say(f"Le code ne peut pas être vide ({left} essai(s) restant(s)).")
                    continue
                code = self.rules.find_code(typed)
                if code is None or code != typed:
                    self._say(
                        f"Ce n'est pas un code de connexion valide ({left} essai(s) restant(s))."
                    )
                    continue
                return code
        raise SystemException(
            f"Aucun code de connexion valide saisi après {self.max_attempts} essais.",
            code="otp_unavailable",
        )


# --- totp ---------------------------------------------------------------------------------------


class TotpCodeSource:
    """Computes the current code from the shared TOTP secret."""

    def __init__(self, secret: SecretStr) -> None:
        try:
            self._totp = pyotp.TOTP(secret.get_secret_value())
            self._totp.now()
        except (ValueError, TypeError) as e:  # binascii.Error is a ValueError
            raise OtpSetupError(
                "Le secret TOTP configuré (ICOPE_BOT_TOTP_SECRET) n'est pas valide."
            ) from e

    def code_for(self, login_started: datetime) -> str:
        return str(self._totp.now())


# --- from settings ------------------------------------------------------------------------------


def otp_source_from_settings(
    settings: Settings, *, ask: Callable[[str], str] = input
) -> OtpSource | None:
    """The code source the settings choose; None when the target asks for no code."""
    from bot.config import OtpMode

    choice = OtpMode(settings.otp_source)
    if choice is OtpMode.NONE:
        return None
    rules = load_otp_email_rules(settings.mapping)
    if choice is OtpMode.PROMPT:
        return PromptCodeSource(account=settings.username, rules=rules, ask=ask)
    if choice is OtpMode.TOTP:
        if settings.totp_secret is None:
            raise OtpSetupError(
                "otp_source=totp demande un secret : définissez ICOPE_BOT_TOTP_SECRET."
            )
        return TotpCodeSource(settings.totp_secret)
    if not settings.imap_user:
        raise OtpSetupError(
            "otp_source=imap demande la boîte du robot : définissez ICOPE_BOT_IMAP_USER."
        )
    return ImapCodeSource(
        host=settings.imap_host,
        port=settings.imap_port,
        user=settings.imap_user,
        password=settings.imap_secret(),
        tls=settings.imap_tls,
        address=settings.otp_address,
        folder=settings.imap_folder,
        move_to=settings.imap_move_to,
        rules=rules,
        timeout=settings.otp_timeout_seconds,
        clock_skew=timedelta(seconds=settings.otp_clock_skew_seconds),
    )
