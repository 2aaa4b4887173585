"""The scale benchmark of issue 9: see `bench.scale.run` and docs/performance.md."""
