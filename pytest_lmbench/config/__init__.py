"""What the user asked for: the options table, value parsers and the YAML config sections.

The bottom layer beside :mod:`pytest_lmbench.errors`: it imports no other part of
the plugin except :mod:`pytest_lmbench.vocabulary`.
"""
