"""Test functions with a known global minimum, for benchmarks of the searchers.

Each :class:`TestFunction` is a plain numpy function of a point, given either as an array or as a
params dict with keys ``x0 .. x{d-1}`` (what ``hpo.tune`` passes an objective), together with its
box bounds, one argmin and its known minimum value, so a benchmark can report regret
(``best value - optimum``). No hpo import here: benchmarks build their own search spaces.

Run ``python benchmarks/_functions.py`` to check that each function at its argmin gives its optimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["BRANIN", "FUNCTIONS", "HARTMANN6", "STYBLINSKI_TANG5", "TestFunction"]


@dataclass(frozen=True)
class TestFunction:
    """A function to minimize over a box, with its known global minimum.

    Attributes:
        name: A short label for tables.
        bounds: ``(low, high)`` for each coordinate.
        optimum: The global minimum value.
        argmin: One point where it is reached (the check below evaluates it).
        fn: The function of a 1-D array of ``dim`` coordinates.
    """

    name: str
    bounds: tuple[tuple[float, float], ...]
    optimum: float
    argmin: tuple[float, ...]
    fn: Callable[[np.ndarray], float]

    @property
    def dim(self) -> int:
        return len(self.bounds)

    @property
    def names(self) -> list[str]:
        return [f"x{i}" for i in range(self.dim)]

    def __call__(self, x: Mapping[str, float] | np.ndarray | list[float]) -> float:
        if isinstance(x, Mapping):
            x = [x[name] for name in self.names]
        return float(self.fn(np.asarray(x, dtype=float)))

    def regret(self, value: float) -> float:
        return value - self.optimum


# Hartmann 6-D (Dixon & Szego 1978), as in https://www.sfu.ca/~ssurjano/hart6.html.
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(x: np.ndarray) -> float:
    return float(-_H6_ALPHA @ np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1)))


def branin(x: np.ndarray) -> float:
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10)


def styblinski_tang(x: np.ndarray) -> float:
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


HARTMANN6 = TestFunction(
    "hartmann6",
    ((0.0, 1.0),) * 6,
    -3.32237,
    (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),
    hartmann6,
)
BRANIN = TestFunction("branin", ((-5.0, 10.0), (0.0, 15.0)), 0.397887, (math.pi, 2.275), branin)
# Minimum -39.16617 per coordinate (the value at x_i = -2.903534, rounded).
STYBLINSKI_TANG5 = TestFunction(
    "styblinski_tang5",
    ((-5.0, 5.0),) * 5,
    -39.16617 * 5,
    (-2.903534,) * 5,
    styblinski_tang,
)

FUNCTIONS = {f.name: f for f in (HARTMANN6, BRANIN, STYBLINSKI_TANG5)}


def check() -> None:
    """Each function at its argmin (inside its bounds) gives its optimum to the published digits."""
    for f in FUNCTIONS.values():
        assert len(f.argmin) == f.dim, f.name
        assert all(lo <= x <= hi for x, (lo, hi) in zip(f.argmin, f.bounds)), f.name
        value = f(dict(zip(f.names, f.argmin)))
        assert abs(value - f.optimum) < 1e-4 * max(1.0, abs(f.optimum)), (f.name, value, f.optimum)
        # No better point among random ones: the optimum is a minimum, not a typo.
        rng = np.random.default_rng(0)
        low, high = np.array(f.bounds).T
        best = min(f(x) for x in rng.uniform(low, high, size=(2000, f.dim)))
        assert best > f.optimum - 1e-6, (f.name, best)


if __name__ == "__main__":
    check()
    for f in FUNCTIONS.values():
        value = f(np.array(f.argmin))
        print(f"{f.name:18} dim {f.dim}  f(argmin) = {value:.6f}  optimum {f.optimum:.6f}")
