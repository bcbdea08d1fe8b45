"""Running the labs from the command line: one run per seed (``runs``), seeds in parallel (``parallel``), the
results files (``results``) and the ``islp-lab`` Trainer CLI (``cli``). It builds on the core; the core never
imports it."""
