"""`python -m qscaler`: the same as the `qscaler` console script."""

from qscaler.cli import main

raise SystemExit(main())
