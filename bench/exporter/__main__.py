"""`python -m bench.exporter`: the exporter benchmark alone."""

from bench.exporter import main

raise SystemExit(main())
