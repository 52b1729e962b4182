"""`python -m ftstudio` is the same as the `ftstudio` console script."""

from ftstudio.cli.main import main

raise SystemExit(main())
