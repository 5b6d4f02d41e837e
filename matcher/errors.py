"""One exception hierarchy for fundbot.

Every error a person may see carries a one-line message; causes are chained
(``raise ... from exc``) so ``--debug`` can show the traceback.
"""

from __future__ import annotations


class FundbotError(Exception):
    """Base class; ``str(err)`` is the one line shown to a person."""

    message = "fundbot error"

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)


class ConfigError(FundbotError):
    """Configuration, source or profile files are invalid.

    ``errors`` holds every problem found, each already prefixed with the file
    and key it concerns, so they can all be reported at once.
    """

    message = "invalid configuration"

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        n = len(self.errors)
        head = self.errors[0] if n == 1 else f"{n} configuration errors"
        super().__init__(head)


class SourceError(FundbotError):
    """A source could not be fetched or parsed."""

    def __init__(self, source_id: str, message: str):
        self.source_id = source_id
        super().__init__(f"source {source_id!r}: {message}")


class FetchError(FundbotError):
    """An HTTP request (or a snapshot read) failed."""


class StoreError(FundbotError):
    """The store could not be opened or migrated."""


class ChannelError(FundbotError):
    """A delivery channel could not deliver.  As such (or any other error
    from a channel) it is transient: the rows stay pending and are retried
    with backoff."""


class NotConfigured(ChannelError):
    """A channel that cannot run here (no token, no webhook URL, no SMTP
    host): raised only by a channel's constructor, said once; the rest runs."""


class ChannelBlocked(ChannelError):
    """A permanent refusal (token revoked, channel or webhook gone): the
    channel stops until someone acts, and ``status`` shows why."""


class EmbeddingError(FundbotError):
    """The embedding model could not be built or loaded."""
