"""Capped exponential backoff with jitter for reconnect loops."""

from __future__ import annotations

import random


class Backoff:
    """``next_delay()`` grows initial, 2x, 4x ... up to ``maximum``; each delay is drawn from the
    upper half of its step (equal jitter) so many listeners do not reconnect in lockstep."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, rng: random.Random | None = None) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        step = min(self.maximum, self.initial * (2**self.attempt))
        self.attempt += 1
        return step / 2 + self._rng.uniform(0, step / 2)

    def reset(self) -> None:
        self.attempt = 0
