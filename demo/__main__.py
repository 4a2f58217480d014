"""`python -m demo` (what `make demo` runs); see the package docstring."""

from demo.runner import main

raise SystemExit(main())
