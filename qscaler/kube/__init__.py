"""The Kubernetes adapters: watch caches, writes, Events and the leader Lease."""
