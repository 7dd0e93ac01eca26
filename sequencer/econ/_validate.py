"""Input checks shared by the economic kernels.

Every check raises :class:`ValueError` whose message names the argument, shows the offending
value (or its shape) and says what was expected, so a caller several layers up can tell which
input was wrong without a traceback.
"""

from __future__ import annotations

import numpy as np


def _show(value: object) -> str:
    """A short rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_float_array(value: object, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be numeric (array-like of numbers); got {_show(value)}"
        ) from None
    return array


def _check_finite(array: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        index = where[0] if len(where) == 1 else where
        raise ValueError(
            f"{name} must be finite; got {float(array[where])!r} at index {index}"
        )


def as_vector(value: object, name: str, *, size: int | None = None) -> np.ndarray:
    """A finite, non-empty 1-D float array (optionally of a given length)."""
    array = _as_float_array(value, name)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array; got shape {array.shape}"
        )
    if size is not None and array.size != size:
        raise ValueError(
            f"{name} must have one entry per strategy ({size}); got {array.size}"
        )
    _check_finite(array, name)
    return array


def as_names(names: object) -> tuple[str, ...]:
    """Strategy names: a non-empty sequence of distinct, non-empty strings."""
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise ValueError(f"names must be a sequence of strings; got {_show(names)}")
    result = tuple(names)
    if not result:
        raise ValueError("names must name at least one strategy; got an empty sequence")
    for name in result:
        if not isinstance(name, str) or not name:
            raise ValueError(f"names must be non-empty strings; got {_show(name)}")
    seen: set[str] = set()
    for name in result:
        if name in seen:
            raise ValueError(f"names must be distinct; {name!r} appears more than once")
        seen.add(name)
    return result


def as_wtp(value: object, name: str) -> np.ndarray:
    """Willingness-to-pay values: a scalar or 1-D array, finite and >= 0, as a 1-D array."""
    array = _as_float_array(value, name)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must be a number or a non-empty 1-D array; got shape {array.shape}"
        )
    _check_finite(array, name)
    if (array < 0).any():
        raise ValueError(
            f"{name} must be >= 0 (a willingness to pay per unit of effect); "
            f"got {float(array[array < 0][0])!r}"
        )
    return array


def as_psa(costs: object, effects: object) -> tuple[np.ndarray, np.ndarray]:
    """Probabilistic costs and effects: finite 2-D float arrays of equal shape (draw, strategy)."""
    arrays = []
    for value, name in ((costs, "costs"), (effects, "effects")):
        array = _as_float_array(value, name)
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
            raise ValueError(
                f"{name} must be a 2-D array shaped (draw, strategy) with at least one draw "
                f"and one strategy; got shape {array.shape}"
            )
        _check_finite(array, name)
        arrays.append(array)
    costs_a, effects_a = arrays
    if costs_a.shape != effects_a.shape:
        raise ValueError(
            f"effects must have the same shape as costs {costs_a.shape}; "
            f"got {effects_a.shape}"
        )
    return costs_a, effects_a


def as_parameters(value: object, n_draws: int) -> np.ndarray:
    """Sampled parameters: finite, shaped (draw,) or (draw, k); returned as (draw, k)."""
    array = _as_float_array(value, "parameters")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(
            f"parameters must be shaped (draw,) or (draw, k) with k >= 1; got shape "
            f"{array.shape}"
        )
    if array.shape[0] != n_draws:
        raise ValueError(
            f"parameters must have one row per draw of costs/effects ({n_draws}); "
            f"got {array.shape[0]} rows"
        )
    _check_finite(array, "parameters")
    return array


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only copy, so a frozen dataclass holding it stays immutable and the caller's
    own array (which ``np.asarray`` may have passed through) is left writeable."""
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array
