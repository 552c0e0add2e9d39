"""Unpickling that can only build data, for CIFAR's python batches.

CIFAR-10/100 ship as pickles, and an ordinary `pickle.load` runs whatever code a tampered file
names. This unpickler resolves only the globals that plain containers, bytes and numpy arrays need,
as written by Python 2 or 3, numpy 1 or 2, at any protocol; anything else is refused.
"""
from __future__ import annotations

import pickle
import warnings
from typing import IO

# Everything a CIFAR batch (written by Python 2 or 3, numpy 1 or 2, any protocol) refers to.
_PICKLE_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at protocol < 3
    ("builtins", "bytearray"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Builds only builtin containers, bytes and numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's own signature
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        with warnings.catch_warnings():  # numpy 2 warns when numpy.core is looked up
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def load_restricted(file: IO[bytes]) -> object:
    """Load one pickle with `_BatchUnpickler`; refusals raise `pickle.UnpicklingError`."""
    # latin1 is how numpy asks Python 2 pickles (the published batches) to be read.
    return _BatchUnpickler(file, encoding="latin1").load()
