"""The pure core: policy parsing, demand arithmetic and decide().

Nothing in this package performs I/O, reads a clock or logs; import-linter
enforces that it imports none of httpx, pika, kubernetes, prometheus_client.
"""
