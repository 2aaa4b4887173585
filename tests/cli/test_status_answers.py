"""What `qscaler status` and `explain --url` do with an answer at /status that
is not qscaler's status document (another service on that port, another
version, a proxy's error page): one line on stderr and exit 2, never a
traceback while printing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qscaler.cli import main

WORKLOAD = '{"namespace": "apps", "workload": "orders", "kind": "Deployment", "reason": "Steady"}'
ANSWERS = {
    "/list/status": b"[1, 2]",
    "/number/status": b'{"workloads": 5}',
    "/numbers/status": b'{"workloads": [5]}',
    "/no-names/status": b'{"workloads": [{"ref": 3}]}',
    "/older/status": b'{"workloads": [{"namespace": "apps", "workload": "orders"}]}',
    "/mistyped/status": b'{"workloads": [{"namespace": "apps", "workload": "orders", '
    b'"policy": 5, "decision": [1], "observation": "x"}]}',
    "/two/status": b'{"workloads": [' + WORKLOAD.encode() + b", " + WORKLOAD.encode() + b"]}",
}


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = ANSWERS.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("path", ["/list", "/number", "/numbers", "/no-names"])
@pytest.mark.parametrize("command", [["status"], ["explain", "apps/orders"]])
def test_an_answer_that_is_not_a_status_document_is_one_line_and_exit_2(
    server: str, path: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--url", server + path]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"qscaler: {server}{path}/status did not answer with qscaler's status document\n"


def test_explain_of_a_name_in_two_places_asks_for_the_namespace(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "orders", "--url", server + "/two"]) == 2
    assert capsys.readouterr().err == (
        "qscaler: orders is in several namespaces (apps, apps): give -n NAMESPACE\n"
    )


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--timeout", "-1"], "argument --timeout: '-1' is not a number of seconds above 0"),
        (["--timeout", "nan"], "argument --timeout: 'nan' is not a number of seconds above 0"),
        (["--url", "http://[::1"], "qscaler: --url http://[::1: not a URL (Invalid IPv6 URL)"),
    ],
    ids=["negative-timeout", "nan-timeout", "unparsable-url"],
)
def test_a_bad_timeout_or_url_is_one_line_and_exit_2(
    server: str, flags: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["status", "--url", server + "/two", *flags]
    try:
        code = main(args)
    except SystemExit as exited:  # argparse's own exit for a bad flag
        code = int(str(exited.code))
    err = capsys.readouterr().err
    assert (code, err.count("\n")) == (2, 1), err
    assert says in err


@pytest.mark.parametrize(
    ("command", "path"),
    [
        (["status"], "/mistyped"),  # the table prints an older document's missing fields as -
        (["explain", "apps/orders"], "/older"),
        (["explain", "apps/orders"], "/mistyped"),
    ],
    ids=["status-mistyped", "explain-older", "explain-mistyped"],
)
def test_a_document_with_fields_missing_or_mistyped_is_one_line_and_exit_2(
    server: str, path: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--url", server + path]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"qscaler: {server}{path}: its status document lacks or mistypes")
    assert err.endswith("is it another version?\n")
