"""Exit 0 once the test node is fully up; used by up.sh while it waits.

"Up" means: the management API answers over HTTPS (verified against the test
CA) with the admin's credentials, and it lists the node's own AMQP, AMQPS and
Prometheus listeners. The HTTP API starts before the AMQP listeners, so an
answering API alone is not enough: a port taken by another process makes the
boot fail after the API has already answered.

Python rather than curl because python3 comes with the rabbitmq-server
package and curl does not. The password comes from the environment
(QSCALER_RABBITMQ_PASSWORD), never from the command line, where `ps` shows it.

Usage: ready.py MGMT_PORT MGMT_TLS_PORT CA_FILE AMQP_PORT AMQPS_PORT PROMETHEUS_PORT
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import sys
import urllib.request
from typing import Any


def get(url: str, user: str, password: str, context: ssl.SSLContext | None = None) -> Any:
    """GET a JSON document with basic auth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    # Fixed http(s)://127.0.0.1 URLs built by main(), never user input.
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
        return json.load(response)


def main(argv: list[str]) -> int:
    """0 when ready, 1 when not yet."""
    mgmt, tls, ca_file, *wanted = argv
    user, password = os.environ["QSCALER_RABBITMQ_USER"], os.environ["QSCALER_RABBITMQ_PASSWORD"]
    try:
        context = ssl.create_default_context(cafile=ca_file)
        get(f"https://127.0.0.1:{tls}/api/overview", user, password, context)
        overview = get(f"http://127.0.0.1:{mgmt}/api/overview?columns=listeners", user, password)
    except (OSError, ValueError):
        return 1
    if not isinstance(overview, dict):
        # Management statistics off (management_agent.disable_metrics_collector):
        # the overview has no listeners; ask the ports themselves.
        return 0 if all(accepts(int(port)) for port in wanted) else 1
    listening = {listener.get("port") for listener in overview.get("listeners", [])}
    return 0 if {int(port) for port in wanted} <= listening else 1


def accepts(port: int) -> bool:
    """Something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
