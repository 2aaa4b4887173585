"""The live race: qscaler against a real KEDA on the real broker and control plane.

See docs/race.md. `python -m bench.race.run` (or `make race`) runs it.
"""
