"""Grid intensity: zones, intensity sources (bundled factors and series, live providers), attribution.

Modules: :mod:`~carbontrail.grid.series` (the regular series type), :mod:`~carbontrail.grid.loaders`
(CSV/Parquet files), :mod:`~carbontrail.grid.bundled` (series shipped with carbontrail).
Nothing is loaded at import time.
"""
