"""Print N distinct free TCP ports on 127.0.0.1, for the services' start scripts.

All N sockets stay bound until all are picked: picked one at a time (bind to
port 0, release), the kernel can hand out the same port twice — it did, and a
RabbitMQ node's management and Prometheus listeners got one port and the node
failed to boot."""

import socket
import sys

held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))
