"""Build inst/extdata/digits.zip, the example data of rkd_example_data().

It packs exactly what pykd.datasets.write_digits() writes, so R and Python
users work with the same images and tables. Run from Rpkg/ with pykd installed:
    python data-raw/make_digits.py
"""

import tempfile
import zipfile
from pathlib import Path

from pykd.datasets import write_digits

with tempfile.TemporaryDirectory() as tmp:
    write_digits(tmp, seed=0)
    root = Path(tmp)
    with zipfile.ZipFile("inst/extdata/digits.zip", "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
