"""The one-time code read from the bot account's mailbox, over real SMTP → Maildir → IMAP."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from bot.errors import SystemException
from bot.logs import logger
from bot.otp import ImapCodeSource, OtpEmailRules, _mailbox_name
from mailpipe import MailPipeline
from tests.fixtures.mail import BotMailbox, new_bot_mailbox


def now() -> datetime:
    return datetime.now(UTC)


def test_code_mail_sent_after_login_is_read(bot_mailbox: BotMailbox) -> None:
    login_started = now()
    bot_mailbox.send_code("482913")

    assert bot_mailbox.source().code_for(login_started) == "482913"


def test_two_bots_logging_in_together_each_get_their_own_code(mail_pipeline: MailPipeline) -> None:
    bot_a, bot_b = new_bot_mailbox(mail_pipeline), new_bot_mailbox(mail_pipeline)
    login_started = now()
    with ThreadPoolExecutor(2) as pool:
        code_a = pool.submit(bot_a.source().code_for, login_started)
        code_b = pool.submit(bot_b.source().code_for, login_started)
        # Both wait in the same mailbox; B's code arrives first, then A's.
        bot_b.send_code("222222")
        bot_a.send_code("111111")

        assert code_a.result() == "111111"
        assert code_b.result() == "222222"


def test_code_mail_older_than_login_is_ignored(bot_mailbox: BotMailbox) -> None:
    bot_mailbox.deliver_code("999999", received_at=now() - timedelta(minutes=10))

    with pytest.raises(SystemException) as raised:
        bot_mailbox.source(timeout=1.0).code_for(now())

    assert raised.value.code == "otp_unavailable"


def test_newest_code_mail_wins(bot_mailbox: BotMailbox) -> None:
    login_started = now()
    bot_mailbox.deliver_code("100001", received_at=now() - timedelta(seconds=1))
    bot_mailbox.send_code("100002")

    assert bot_mailbox.source().code_for(login_started) == "100002"


def test_code_mail_arriving_while_waiting_is_found(bot_mailbox: BotMailbox) -> None:
    login_started = now()
    late_sender = threading.Timer(1.2, bot_mailbox.send_code, args=("735102",))
    late_sender.start()
    try:
        source = bot_mailbox.source(timeout=10.0)
        assert source.code_for(login_started) == "735102"
        assert source.polls >= 2  # it was waiting when the mail came
    finally:
        late_sender.join()


def test_no_mail_raises_otp_unavailable_without_busy_polling(bot_mailbox: BotMailbox) -> None:
    source = bot_mailbox.source(timeout=2.0)

    with pytest.raises(SystemException) as raised:
        source.code_for(now())

    assert raised.value.code == "otp_unavailable"
    assert "Aucun e-mail" in raised.value.message
    # 0.5 s, then 1 s, then capped at 2 s between checks: a handful of checks, not a loop.
    assert 2 <= source.polls <= 5


def test_used_code_mail_is_marked_seen_and_never_returned_twice(bot_mailbox: BotMailbox) -> None:
    login_started = now()
    bot_mailbox.send_code("564738")
    source = bot_mailbox.source(timeout=1.0)

    assert source.code_for(login_started) == "564738"
    assert bot_mailbox.messages() == [("Votre code de connexion e-parcours", True)]
    with pytest.raises(SystemException, match="otp_unavailable"):
        source.code_for(login_started)


def test_used_code_mail_can_be_moved_to_a_folder(bot_mailbox_on_each_server: BotMailbox) -> None:
    mailbox = bot_mailbox_on_each_server
    login_started = now()
    mailbox.send_code("246810")

    assert mailbox.source(move_to="Codes utilisés").code_for(login_started) == "246810"
    assert mailbox.messages() == []
    conn = mailbox.imap()
    try:
        typ, data = conn.select(_mailbox_name("Codes utilisés"), readonly=True)
    finally:
        conn.logout()
    assert (typ, data) == ("OK", [b"1"])  # the mail left the inbox for the folder, not lost
    if mailbox.pipeline.imap_server == "pymap":
        # Seen on every run here: pymap's COPY writes the copy with an empty body
        # (RFC822.SIZE 1), so its subject and recipient cannot be read back.
        pytest.xfail(
            "pymap 0.36 copie le message déplacé sans son contenu : le contenu du dossier "
            "n'est vérifié que sur Dovecot"
        )
    assert mailbox.messages("Codes utilisés") == [("Votre code de connexion e-parcours", True)]


def test_mail_with_another_subject_is_ignored(bot_mailbox: BotMailbox) -> None:
    login_started = now()
    bot_mailbox.send_code("121212", subject="Lettre d'information n° 123456")
    bot_mailbox.send_code("343434")

    assert bot_mailbox.source().code_for(login_started) == "343434"


def test_code_in_an_html_mail_is_read(bot_mailbox: BotMailbox) -> None:
    login_started = now()
    bot_mailbox.send_code("908172", html=True)

    assert bot_mailbox.source().code_for(login_started) == "908172"


def test_code_pattern_comes_from_the_mapping_rules(bot_mailbox: BotMailbox) -> None:
    login_started = now()
    bot_mailbox.send_code("AB-1234")
    rules = OtpEmailRules(subject_contains="code", code_pattern=r"\b([A-Z]{2}-\d{4})\b")

    assert bot_mailbox.source(rules=rules).code_for(login_started) == "AB-1234"


def test_wrong_mailbox_password_raises_otp_mailbox(bot_mailbox: BotMailbox) -> None:
    source = bot_mailbox.source(password=SecretStr("pas-le-bon"))

    with pytest.raises(SystemException) as raised:
        source.code_for(now())

    assert raised.value.code == "otp_mailbox"
    assert "pas-le-bon" not in str(raised.value)


def test_unreachable_mail_server_raises_otp_mailbox() -> None:
    source = ImapCodeSource(
        host="127.0.0.1", port=1, user="robot", password=SecretStr("x"), connect_timeout=2
    )

    with pytest.raises(SystemException) as raised:
        source.code_for(now())

    assert raised.value.code == "otp_mailbox"


def test_cancel_stops_the_wait(bot_mailbox: BotMailbox) -> None:
    source = bot_mailbox.source(timeout=30.0)
    stopper = threading.Timer(0.3, source.cancel)
    stopper.start()

    with pytest.raises(SystemException, match="interrompue"):
        source.code_for(now())
    stopper.join()


def test_code_and_address_never_reach_the_log(bot_mailbox: BotMailbox) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", format="{message} {extra} {exception}")
    try:
        login_started = now()
        bot_mailbox.send_code("603957")
        assert bot_mailbox.source().code_for(login_started) == "603957"
        with pytest.raises(SystemException):
            bot_mailbox.source(timeout=0.5).code_for(login_started)
    finally:
        logger.remove(sink)

    log = "".join(lines)
    assert "Code de connexion lu" in log
    assert "603957" not in log
    assert bot_mailbox.address not in log
    assert "Bonjour" not in log
