"""The local mail system itself: what goes in over SMTP comes out over IMAP, per recipient."""

from __future__ import annotations

import imaplib
import smtplib
from pathlib import Path

import pytest

from mailpipe import MailPipeline, start_mail_pipeline
from tests.fixtures.mail import SHARED_MAILBOX, SHARED_PASSWORD, BotMailbox, code_mail


def subjects(pipeline: MailPipeline, user: str, password: str) -> list[str]:
    conn = imaplib.IMAP4(pipeline.host, pipeline.imap_port, timeout=10)
    try:
        conn.login(user, password)
        conn.select("INBOX", readonly=True)
        _typ, data = conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        return [
            p[1].decode().strip().removeprefix("Subject: ") for p in data if isinstance(p, tuple)
        ]
    finally:
        conn.logout()


def test_mail_sent_over_smtp_is_read_over_imap(tmp_path: Path) -> None:
    users = {"a@mail.test": "pa", "b@mail.test": "pb"}
    with start_mail_pipeline(tmp_path, users) as pipeline:
        with smtplib.SMTP(pipeline.host, pipeline.smtp_port, timeout=10) as smtp:
            smtp.send_message(code_mail("a@mail.test", "111111", subject="pour a"))
            smtp.send_message(code_mail("b@mail.test", "222222", subject="pour b"))

        assert subjects(pipeline, "a@mail.test", "pa") == ["pour a"]
        assert subjects(pipeline, "b@mail.test", "pb") == ["pour b"]


def test_unknown_recipient_is_refused_at_rcpt(bot_mailbox: BotMailbox) -> None:
    pipeline = bot_mailbox.pipeline
    with (
        smtplib.SMTP(pipeline.host, pipeline.smtp_port, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPRecipientsRefused),
    ):
        smtp.send_message(code_mail("personne@ailleurs.test", "123456"))


def test_wrong_imap_password_is_refused(bot_mailbox: BotMailbox) -> None:
    pipeline = bot_mailbox.pipeline
    conn = imaplib.IMAP4(pipeline.host, pipeline.imap_port, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            conn.login(SHARED_MAILBOX, SHARED_PASSWORD + "x")
    finally:
        conn.shutdown()


def test_fallback_imap_server_serves_the_same_mailboxes(tmp_path: Path) -> None:
    with start_mail_pipeline(tmp_path, {"a@mail.test": "pa"}, imap="pymap") as pipeline:
        assert pipeline.imap_server == "pymap"
        with smtplib.SMTP(pipeline.host, pipeline.smtp_port, timeout=10) as smtp:
            smtp.send_message(code_mail("a@mail.test", "111111", subject="par pymap"))

        assert subjects(pipeline, "a@mail.test", "pa") == ["par pymap"]
