"""Picking up rotated RabbitMQ credentials, for both sources.

Both sources keep every password they used, old and new, and `scrub` every
message they raise with them as a last line of defence.

A source that was refused a login calls `renewed` with the re-reader the
settings gave it (`Settings.credentials_reader`) and the pair it used: only a
pair that differs is worth one more attempt, so a wrong password is not
retried in a loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from qscaler.errors import SettingsError

Credentials = tuple[str, str]


def renewed(
    reload: Callable[[], Credentials] | None, in_use: Credentials | None
) -> Credentials | None:
    """The credentials `reload` reads now when they differ from `in_use`; None
    when there is nothing new to try (no re-reader, unreadable file, same pair)."""
    if reload is None:
        return None
    try:
        fresh = reload()
    except SettingsError:
        return None
    return None if fresh == in_use else fresh


def scrub(message: str, secrets: Iterable[str]) -> str:
    """`message` with every (non-empty) secret replaced by ***."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message
