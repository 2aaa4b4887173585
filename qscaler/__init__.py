"""qscaler: scale RabbitMQ consumer workloads on Kubernetes by queue depth."""

__version__ = "0.1.0"
