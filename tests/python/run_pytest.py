"""ctest driver: run_pytest.py TEST_FILE [MODULE...] runs one pytest file, or exits 77 (ctest's
SKIP_RETURN_CODE) when a Python module it needs is not installed."""
import importlib
import os
import sys


def main():
    test, mods = sys.argv[1], sys.argv[2:]
    for m in ["numpy", "pytest"] + mods:
        try:
            importlib.import_module(m)
        except ImportError as e:
            print("skipped: Python module %s is missing (%s); tools/deps.sh installs it" % (m, e))
            sys.exit(77)
    import pytest  # noqa: E402
    sys.exit(pytest.main([test, "-q", "-p", "no:cacheprovider", "--rootdir", os.path.dirname(test)]))


# Dask workers are spawned processes that import this module again: run only as the program
if __name__ == "__main__":
    main()
