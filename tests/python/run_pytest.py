"""ctest driver: run_pytest.py TEST_FILE [MODULE...] runs one pytest file, or exits 77 (ctest's
SKIP_RETURN_CODE) when a Python module it needs is not installed."""
import importlib
import os
import sys

test, mods = sys.argv[1], sys.argv[2:]
for m in ["numpy", "pytest"] + mods:
    try:
        importlib.import_module(m)
    except ImportError as e:
        print("skipped: Python module %s is missing (%s); tools/deps.sh installs it" % (m, e))
        sys.exit(77)
import pytest  # noqa: E402

sys.exit(pytest.main([test, "-q", "-p", "no:cacheprovider", "--rootdir", os.path.dirname(test)]))
