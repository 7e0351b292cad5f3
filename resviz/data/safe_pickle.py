"""A restricted unpickler for the CIFAR python batches: plain containers and numeric numpy arrays only.

The CIFAR archives hold Python pickles. Plain ``pickle.load`` would run whatever code a
tampered file names; this unpickler resolves no global except the few that rebuild a numeric
numpy array (and ``_codecs.encode`` for latin-1 text, which Python 3 uses to pickle bytes at
protocol 2). Anything else fails with an error naming the global.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from ..errors import ResvizError

_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: never object, void or strings


def _numeric_dtype(spec: Any) -> np.dtype:
    if isinstance(spec, bytes):
        spec = spec.decode("ascii")
    if not isinstance(spec, (str, np.dtype)):
        raise pickle.UnpicklingError(f"dtype spec {spec!r} is not allowed")
    dtype = np.dtype(spec)
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
        raise pickle.UnpicklingError(f"dtype {dtype} is not allowed (numeric arrays only)")
    return dtype


def _safe_dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    # numpy pickles a dtype as dtype(spec, align, copy) followed by __setstate__.
    return np.dtype(_numeric_dtype(spec), align=bool(align), copy=bool(copy))


def _safe_reconstruct(cls: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') followed by __setstate__.
    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"array subclass {cls!r} is not allowed")
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise pickle.UnpicklingError(f"array shape {shape!r} is not allowed")
    return np.ndarray.__new__(np.ndarray, shape, _numeric_dtype(dtype_code))


def _safe_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("numpy scalar without a dtype")
    dtype = _numeric_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar of {dtype} with {type(data).__name__} data")
    return np.frombuffer(data, dtype=dtype)[0]


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin-1 text")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy.core.multiarray", "scalar"): _safe_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles builtin containers, numbers, strings, bytes and numeric numpy arrays; nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"the pickle refers to {module}.{name}, which is not allowed "
                                         "(only numbers, strings, containers and numeric arrays)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_loads(data: bytes, where: str) -> Any:
    """Unpickle ``data`` (Python 2 ``str`` comes back as ``bytes``); a ResvizError naming ``where`` on failure."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, MemoryError, UnicodeDecodeError) as exc:
        raise ResvizError(f"{where} is not a valid data batch: {exc}") from None
