"""What the HTTP sources (management API, Prometheus endpoints) share: one-line
sentences for failed requests.

A failed request becomes a message an operator can act on ("TLS certificate
verification failed for GET ...: trust the broker's CA with
QSCALER_TLS_CA_FILE"), never a traceback, and never with a query string that
could carry more than the path says.
"""

from __future__ import annotations

import ssl

import httpx


def out_of_range(response: httpx.Response) -> bool:
    """Whether a listing page answered 400 because it is past the last page."""
    try:
        return bool(response.json().get("error") == "page_out_of_range")
    except (ValueError, AttributeError):
        return False


def broker_reason(response: httpx.Response) -> str:
    """The broker's own explanation ({"error": ..., "reason": ...}), shortened."""
    try:
        document = response.json()
        text = str(document.get("reason") or document.get("error") or "")
    except (ValueError, AttributeError):
        text = response.text
    return " ".join(text.split())[:200] or response.reason_phrase


def without_query(url: httpx.URL) -> str:
    """The URL without its query string."""
    return str(url.copy_with(query=None))


def request_line(exc: httpx.RequestError) -> str:
    """The failed request as "GET <url>", without its query."""
    try:
        return f"GET {without_query(exc.request.url)}"
    except RuntimeError:  # no request attached
        return "GET"


def transport_failure(exc: httpx.TransportError) -> str:
    """Why a request did not get an answer, in one line (TLS problems named as such)."""
    line = request_line(exc)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate verification failed for {line}: {cause.verify_message}; "
                "trust the broker's CA with QSCALER_TLS_CA_FILE"
            )
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed for {line}: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    verb = "cannot connect" if isinstance(exc, httpx.ConnectError) else "request failed"
    return f"{verb}: {line}: {exc or type(exc).__name__}"
