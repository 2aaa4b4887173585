"""Every default of a workload's policy, written once.

The annotation table (`qscaler.core.annotations`), the `Policy` value, the
process defaults (`qscaler.core.binding.ProcessDefaults`) and the settings
(`qscaler.settings`) all read these, so a default changed here changes what
the parser fills in, what a hand-built `Policy` holds, what the settings start
from and what the README's annotation table says. Enumerated defaults are
written as the annotation's value (`"all"`), because the enums themselves
live in `qscaler.core.policy`, which reads this module.
"""

from __future__ import annotations

# --- per workload: the value of an annotation that is absent -----------------
VHOST = "/"
#: The broker of workloads without `qscaler.io/broker`: the one QSCALER_* settings describe.
DEFAULT_BROKER = "default"
MIN_REPLICAS = 1
MAX_REPLICAS = 10
#: Backlog mode's cooldown (QSCALER_DEFAULT_COOLDOWN_SECONDS).
COOLDOWN_SECONDS = 300.0
#: Rate-aware mode's cooldown (QSCALER_DEFAULT_RATE_AWARE_COOLDOWN_SECONDS). It
#: sizes for an averaged arrival rate and keeps busy replicas while a queue
#: drains (decide's Draining step), so it needs a much shorter window to be
#: stable: 30 s measured best in the benchmark.
RATE_AWARE_COOLDOWN_SECONDS = 30.0
COUNT = "all"
AGGREGATE = "sum"
ACTIVATION_MESSAGES = 0.0
MODE = "active"
TOLERANCE = 0.1
RATE_WINDOW_SECONDS = 30.0
STANDING_WAIT_SECONDS = 10.0
SURGE_THRESHOLD = 2.0
FORECAST = "on"

# --- process-wide (settings, not annotations) ---------------------------------
STALE_AFTER_SECONDS = 60.0
FALLBACK_AFTER_FAILURES = 3
#: The scale-up and scale-down limits count replicas per this window.
LIMIT_WINDOW_SECONDS = 60.0
