"""Reporting: Prometheus metrics, Kubernetes Events, logs and the HTTP endpoints."""
