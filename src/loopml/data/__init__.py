"""Datasets: content-addressed versions, validation suites, profiles and lineage.

Today: :func:`~loopml.data.snapshot.snapshot`, the full-content hash and
streamed Parquet copy a dataset version is made of (issue 4, first slice).
"""
