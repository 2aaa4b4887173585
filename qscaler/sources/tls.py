"""The TLS client context both sources use, so `https://` and `amqps://` verify alike.

With verification on, the system CAs are trusted, plus `ca_file` when given
(a private CA); an unreadable CA file is a settings error at start-up. With
verification off (`QSCALER_TLS_VERIFY=false`, for a test broker only), the
connection is still encrypted but neither the certificate nor the host name
is checked.
"""

from __future__ import annotations

import ssl

from qscaler.errors import SettingsError


def client_tls_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """A client context: verifying (system CAs plus `ca_file`), or not at all."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"TLS CA file {ca_file}: cannot load it ({exc})") from None
    return context
