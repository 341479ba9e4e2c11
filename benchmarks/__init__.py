"""The benchmark scripts of skdeepad (not part of the installed package).

A package only so that the scripts can import their shared helpers
(``_harness``, ``_peers``, ``ama_mnist``, ``adra_mnist``) without editing
the import path: run a script from the repository root either as a module,
``python -m benchmarks.odds_table2 ...``, or as a file,
``python benchmarks/odds_table2.py ...`` (then Python itself puts
``benchmarks/`` first on the import path).  ``benchmarks/README.md`` indexes
the scripts and their results.
"""
