"""Re-reading rotated credentials: only a changed, readable pair is retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from qscaler.errors import SettingsError
from qscaler.settings import Settings, load_settings, read_secret
from qscaler.sources.credentials import renewed


def test_credentials_from_the_environment_are_never_re_read() -> None:
    assert Settings(password="p").credentials_reader() is None


def test_a_password_file_is_read_again_on_every_call(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("first\n")
    reader = Settings(username="u", password_file=secret).credentials_reader()
    assert reader is not None
    assert reader() == ("u", "first")
    secret.write_text("second\n")
    assert reader() == ("u", "second")


def test_only_a_different_pair_is_worth_another_login() -> None:
    assert renewed(lambda: ("u", "new"), ("u", "old")) == ("u", "new")
    assert renewed(lambda: ("u", "old"), ("u", "old")) is None
    assert renewed(None, ("u", "old")) is None


def test_an_unreadable_file_means_nothing_new_to_try() -> None:
    def broken() -> tuple[str, str]:
        raise SettingsError("password_file: cannot read it")

    assert renewed(broken, ("u", "old")) is None


def test_a_password_file_that_is_not_text_is_a_settings_error(tmp_path: Path) -> None:
    binary = tmp_path / "password"
    binary.write_bytes(b"\xb7\xff\x00")  # a Secret mounted from the wrong key
    with pytest.raises(SettingsError) as raised:
        read_secret(binary, "QSCALER_PASSWORD_FILE")
    assert str(raised.value) == f"QSCALER_PASSWORD_FILE {binary}: cannot read (not UTF-8 text)"
    assert renewed(lambda: (read_secret(binary, "u"), "p"), ("u", "old")) is None


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (
            {"amqp_url": "amqp://guest:s3cr3t@rabbit:99999"},
            "QSCALER_AMQP_URL: Value error, not a URL",
        ),
        ({"management_url": "http://[::1"}, "QSCALER_MANAGEMENT_URL: Value error, not a URL"),
    ],
    ids=["amqp-port", "management-ipv6"],
)
def test_a_url_that_cannot_be_parsed_is_a_settings_error_without_its_password(
    overrides: dict[str, str], says: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(**overrides)
    assert says in str(raised.value)
    assert "s3cr3t" not in str(raised.value)
