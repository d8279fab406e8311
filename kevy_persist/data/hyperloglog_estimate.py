"""Redis's HyperLogLog cardinality estimate (hllCount): Ertl's improved estimator.

What it models: the number PFCOUNT answers for a set of 16,384 one-byte registers, computed
from the register histogram in IEEE doubles in Redis's order of operations, so it is
bit-for-bit Redis's answer (the registers come from data/hyperloglog.py).
"""

from __future__ import annotations

import math

from kevy_persist.data.hyperloglog import INDEX_BITS, REGISTER_COUNT

_ALPHA_INFINITY = 0.721347520444481703680  # 0.5 / ln(2)

def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= math.pow(1.0 - x, 2) * y
        if previous == z:
            return z / 3


def _round_half_away(value: float) -> int:
    whole = math.floor(value)
    return whole + 1 if value - whole >= 0.5 else whole


def estimate(registers: bytes) -> int:
    """Redis's hllCount over one-byte registers (Ertl's estimator, in doubles)."""
    histogram = [registers.count(value) for value in range(64)]
    count = float(REGISTER_COUNT)
    largest = 64 - INDEX_BITS + 1
    z = count * _tau((count - histogram[largest]) / count)
    for value in range(largest - 1, 0, -1):
        z += histogram[value]
        z *= 0.5
    z += count * _sigma(histogram[0] / count)
    return _round_half_away(_ALPHA_INFINITY * count * count / z)
