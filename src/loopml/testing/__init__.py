"""Public contract suites: a backend is done when its suite passes against it.

``check_tracking_store(client)`` runs every tracking check; ``tracking_store_checks()``
lists them so a test suite can parametrize over them, one test id per check.
"""

from __future__ import annotations

from loopml.testing.tracking import check_tracking_store, tracking_store_checks

__all__ = ["check_tracking_store", "tracking_store_checks"]
