"""The fuzz suite: hostile and careless input into every public entry point.

Each property runs under the hypothesis profile "ricci-fuzz", registered here: few examples by default, so
that the suite stays within CI's time budget; ``RICCI_FUZZ=long`` registers the long profile (many more
examples, no deadline), e.g. ``RICCI_FUZZ=long python -m pytest tests/fuzz``. In a test module::

    from hypothesis import settings
    FUZZ = settings.get_profile("ricci-fuzz")

    @settings(FUZZ)                       # or settings(FUZZ, max_examples=20) for an expensive property
    @given(...)
    def test_...
"""

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("RICCI_FUZZ", "").lower() == "long"

settings.register_profile(
    "ricci-fuzz",
    max_examples=2000 if LONG else 60,
    deadline=None if LONG else 2000,  # milliseconds per example: a hang or a blow-up fails the property
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=not LONG,  # CI runs are reproducible; the long profile explores
)
