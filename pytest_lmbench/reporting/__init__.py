"""Reports at session end: JSON (the :mod:`pytest_lmbench.records` contract), HTML, CSV, terminal.

:mod:`.writer` writes the files; :mod:`.summary` computes what every format shows.
"""
