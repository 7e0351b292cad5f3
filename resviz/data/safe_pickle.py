"""A restricted unpickler for the CIFAR python batches: plain containers and numeric numpy arrays only.

The CIFAR archives hold Python pickles. Plain ``pickle.load`` would run whatever code a
tampered file names; this unpickler resolves no global except the few that rebuild a numeric
numpy array (and ``_codecs.encode`` for latin-1 text, which Python 3 uses to pickle bytes at
protocol 2). Anything else fails with an error naming the global. Sizes are untrusted too: an
array is only ever allocated for bytes the pickle holds, within what the caller's format allows.
"""

from __future__ import annotations

import io
import math
import pickle
import reprlib
import struct
from typing import Any

import numpy as np

from ..errors import ResvizError
from ..limits import format_bytes

_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: never object, void or strings
_MAX_DIMS = 32


def _numeric_dtype(spec: Any) -> np.dtype:
    if isinstance(spec, bytes):
        spec = spec.decode("ascii")
    if not isinstance(spec, (str, np.dtype)):
        raise pickle.UnpicklingError(f"dtype spec {reprlib.repr(spec)} is not allowed")
    dtype = np.dtype(spec)
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise pickle.UnpicklingError(f"dtype {dtype} is not allowed (numeric arrays only)")
    return dtype


class _NdarrayClass:
    """Stands for ``numpy.ndarray`` in a pickle: it can only be named as the class ``_reconstruct`` makes,
    never called or instantiated, so no array is ever allocated from a pickle's declared shape."""

    __slots__ = ()


_NDARRAY = _NdarrayClass()


def _safe_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("numpy scalar without a dtype")
    dtype = _numeric_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar of {dtype} with {type(data).__name__} data")
    return np.frombuffer(data, dtype=dtype)[0]


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or len(value) > _MAX_DIMS or \
            not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        raise pickle.UnpicklingError(f"array shape {reprlib.repr(value)} is not allowed")
    return value


def _describe(shape: tuple[int, ...], dtype: np.dtype) -> str:
    size = format_bytes(math.prod(shape) * dtype.itemsize)
    return f"a {'x'.join(map(str, shape)) or 'scalar'} {dtype} array ({size})"


class RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler, so BUILD can be checked first
    """Unpickles builtin containers, numbers, strings, bytes and numeric numpy arrays; nothing else.

    Arrays hold at most ``max_array_bytes`` in all, and each must be filled by bytes that are
    present in the pickle: a declared shape alone never allocates anything.
    """

    dispatch = pickle._Unpickler.dispatch.copy()

    def __init__(self, file: io.BytesIO, *, max_array_bytes: int, max_text_bytes: int) -> None:
        super().__init__(file, encoding="bytes")
        self._array_budget = max_array_bytes
        self._max_array_bytes = max_array_bytes
        self._text_budget = max_text_bytes
        self._unfilled: dict[int, np.ndarray] = {}  # arrays made by _reconstruct, until BUILD fills them
        self._dtypes: dict[int, np.dtype] = {}  # dtypes made here, whose BUILD may set their byte order

    def find_class(self, module: str, name: str) -> Any:
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy.core.multiarray", "scalar"): _safe_scalar,
            ("numpy._core.multiarray", "scalar"): _safe_scalar,
            ("numpy", "ndarray"): _NDARRAY,
            ("numpy", "dtype"): self._dtype,
            ("_codecs", "encode"): self._latin1_encode,
        }
        try:
            return allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"the pickle refers to {module}.{name}, which is not allowed "
                                         "(only numbers, strings, containers and numeric arrays)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")

    def _reconstruct(self, cls: Any, shape: Any, dtype_code: Any) -> np.ndarray:
        # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') followed by BUILD with its
        # shape, dtype and bytes; the array starts empty whatever shape is declared here.
        if cls is not _NDARRAY:
            raise pickle.UnpicklingError(f"array class {reprlib.repr(cls)} is not allowed")
        shape, dtype = _shape(shape), _numeric_dtype(dtype_code)
        if math.prod(shape) * dtype.itemsize > self._max_array_bytes:
            raise pickle.UnpicklingError(f"it declares {_describe(shape, dtype)}, larger than the format allows "
                                         f"({format_bytes(self._max_array_bytes)})")
        array = np.ndarray.__new__(np.ndarray, (0,), dtype)
        self._unfilled[id(array)] = array
        return array

    def _dtype(self, spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
        # numpy pickles a dtype as dtype(spec, align, copy) followed by BUILD with its byte order.
        dtype = np.dtype(_numeric_dtype(spec), align=bool(align), copy=True)
        self._dtypes[id(dtype)] = dtype
        return dtype

    def _latin1_encode(self, text: Any, encoding: Any = "utf-8") -> bytes:
        # Python 3 pickles bytes at protocol 2 as _codecs.encode(text, 'latin1'); a memoised text
        # encoded again and again must not multiply the pickle's size.
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise pickle.UnpicklingError("_codecs.encode is only allowed for latin-1 text")
        self._text_budget -= len(text)
        if self._text_budget < 0:
            raise pickle.UnpicklingError("it encodes more text than it holds")
        return text.encode("latin1")

    def _build_array(self, array: np.ndarray, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("an array's state is not (version, shape, dtype, fortran, data)")
        shape, dtype, fortran, data = state[-4:]
        shape = _shape(shape)
        if not isinstance(dtype, np.dtype):
            raise pickle.UnpicklingError("an array's state has no dtype")
        dtype = _numeric_dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > self._array_budget:
            raise pickle.UnpicklingError(f"it holds {_describe(shape, dtype)}, more than the format allows "
                                         f"({format_bytes(self._max_array_bytes)} of arrays)")
        if not isinstance(data, bytes) or len(data) != nbytes:
            got = f"{len(data)} bytes" if isinstance(data, bytes) else f"a {type(data).__name__}"
            raise pickle.UnpicklingError(f"its data does not fill {_describe(shape, dtype)}: it holds {got}")
        if not isinstance(fortran, bool):
            raise pickle.UnpicklingError(f"an array's order flag is a {type(fortran).__name__}")
        self._array_budget -= nbytes
        array.__setstate__((1, shape, dtype, fortran, data))
        del self._unfilled[id(array)]

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, np.ndarray) and id(inst) in self._unfilled:
            self._build_array(inst, state)
        elif isinstance(inst, np.dtype) and id(inst) in self._dtypes:
            # Only a byte order: no fields, subarrays, sizes or flags (which could smuggle in objects).
            if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
                    and state[1] in ("<", ">", "|", "=", b"<", b">", b"|", b"=") and state[2:5] == (None, None, None)
                    and state[5:8] == (-1, -1, 0) and state[8:] in ((), (None,))):
                raise pickle.UnpicklingError(f"dtype state {reprlib.repr(state)} is not allowed (plain numeric dtypes "
                                             "only)")
            inst.__setstate__(state[:8])
            _numeric_dtype(inst)
        else:
            raise pickle.UnpicklingError(f"the pickle sets the state of a {type(inst).__name__}, which is not allowed")

    dispatch[pickle.BUILD[0]] = load_build

    def load(self) -> Any:
        result = super().load()
        if self._unfilled:
            raise pickle.UnpicklingError("it declares an array but never gives its data")
        return result


def safe_loads(data: bytes, where: str, *, max_array_bytes: int) -> Any:
    """Unpickle ``data`` (Python 2 ``str`` comes back as ``bytes``); a ResvizError naming ``where`` on failure.

    ``max_array_bytes`` is the most all its arrays may hold together: what the format allows.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), max_array_bytes=max_array_bytes, max_text_bytes=len(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, MemoryError, UnicodeDecodeError, struct.error, RecursionError) as exc:
        raise ResvizError(f"{where} is not a valid data batch: {exc}") from None
