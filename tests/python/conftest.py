"""pytest setup for the Python package: finds python/ and libclimz.so of the build when ctest
has not set PYTHONPATH / CLIMZ_LIBRARY, and the bundled samples."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PYDIR = os.path.join(ROOT, "python")
if PYDIR not in sys.path:
    sys.path.insert(0, PYDIR)
# worker processes (Dask) import climz too
os.environ["PYTHONPATH"] = os.pathsep.join([PYDIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                     if p and p != PYDIR])
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
DATA = os.environ.get("CLIMZ_DATA_DIR", os.path.join(ROOT, "data"))
CLI = os.environ.get("CLIMZ_CLI", os.path.join(ROOT, "build", "climz"))
