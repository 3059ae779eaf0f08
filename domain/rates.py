"""Rate limiting with injected time: a token bucket.

Used by the web node (commands per connection) and the API (requests per key). Pure: the
caller passes ``now`` (monotonic seconds) to every call.
"""

from __future__ import annotations

import math


class TokenBucket:
    """Token bucket rate limiter with injected time.

    Args:
        rate: tokens added per second.
        burst: bucket size (and initial tokens).
        now: instant of creation.
    """

    def __init__(self, *, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens at ``now``; false (and nothing taken) when there are too few."""
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def retry_after(self, now: float, cost: float = 1.0) -> int:
        """Whole seconds (at least 1) until ``cost`` tokens are available, for ``Retry-After``."""
        self._refill(now)
        missing = max(0.0, min(cost, self.burst) - self.tokens)
        return max(1, math.ceil(missing / self.rate))
