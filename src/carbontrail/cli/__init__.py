"""The ``carbontrail`` command line (Typer + Rich): tables and progress on stderr, ``--json`` on stdout."""
