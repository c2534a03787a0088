"""A local mail system standing in for the bot account's mailbox (tests and demo only).

SMTP in (aiosmtpd) → one Maildir per address → IMAP out (Dovecot, or pymap without Dovecot).
"""

from mailpipe.pipeline import ImapBackend, MailPipeline, start_mail_pipeline

__all__ = ["ImapBackend", "MailPipeline", "start_mail_pipeline"]
