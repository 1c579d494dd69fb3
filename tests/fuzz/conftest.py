"""The fuzz suite: hostile and careless input into every public entry point.

By default each property runs a small number of examples, so that the suite stays within CI's time budget;
``RICCI_FUZZ=long`` runs the long profile (many more examples, no deadline pressure), e.g.
``RICCI_FUZZ=long python -m pytest tests/fuzz``. Use ``@settings(parent=FUZZ)`` (or ``fuzz_settings(...)``) in
the properties so that both profiles apply.
"""

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("RICCI_FUZZ", "").lower() == "long"

FUZZ = settings(
    max_examples=2000 if LONG else 60,
    deadline=None if LONG else 2000,  # milliseconds per example: a hang or a blow-up shows as a failure
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=not LONG,  # CI runs are reproducible; the long profile explores
)


def fuzz_settings(**overrides) -> settings:
    """The profile's settings with per-test overrides (e.g. fewer examples for an expensive property)."""
    return settings(FUZZ, **overrides)
