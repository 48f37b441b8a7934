"""``python -m kplan``."""

from kplan.cli import main

raise SystemExit(main())
