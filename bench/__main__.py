"""`make bench` (`python -m bench`): every benchmark of issue 7 in one run; see bench_compare."""

from bench.bench_compare import main

raise SystemExit(main())
