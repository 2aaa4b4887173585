"""Packaging and deployment: the Dockerfile, the lock, docker-compose.yml, deploy/."""
