"""``python -m vidcolor``."""

from vidcolor.cli import main

raise SystemExit(main())
