"""A digest of every numeric array in the HDF5 files under a folder, and of the settings a
resumed run must match (the `settings` attribute), for benchmarks/parity.sh."""

import hashlib
import sys
from pathlib import Path

import h5py
import numpy as np

root = Path(sys.argv[1])
for f in sorted(root.rglob("*.h5")):
    with h5py.File(f, "r") as h:
        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiub":
                digest = hashlib.sha256(np.ascontiguousarray(obj[()]).tobytes()).hexdigest()[:16]
                print(f"{f.relative_to(root)}:{name} {digest}")
        h.visititems(visit)
        if "settings" in h.attrs:  # equal settings: a file made before the change resumes after it
            text = h.attrs["settings"]
            text = text.decode() if isinstance(text, bytes) else str(text)
            print(f"{f.relative_to(root)}:settings {hashlib.sha256(text.encode()).hexdigest()[:16]}")
