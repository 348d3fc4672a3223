"""climz: error-bounded and learned compression of gridded climate data, from Python.

    import climz
    frame = climz.compress(t2m, max_abs_error=0.05)     # bytes: a one-variable .clz image
    back = climz.decompress(frame)                      # numpy array, every point within 0.05
    ds = climz.open_dataset("era5.clz")                 # lazy xarray.Dataset (engine="climz")
    climz.to_clz(ds, "out.clz", max_abs_error=0.1)

Bindings are ctypes over libclimz (see climz._lib for how the library is found); the codec
for Zarr is climz.numcodecs.Climz (id "climz"), the pictures are in climz.plot.
"""
from ._lib import ClimzError
from .core import Reader, compress, compress_file, decompress, decompress_file, frame_info, info, version

__all__ = ["ClimzError", "Reader", "compress", "decompress", "frame_info", "compress_file", "decompress_file",
           "info", "version", "open_dataset", "to_clz"]


def open_dataset(path, **kwargs):
    """xarray.open_dataset(path, engine="climz", **kwargs): a lazily decoded Dataset."""
    import xarray as xr
    return xr.open_dataset(path, engine="climz", **kwargs)


def to_clz(dataset, path, **kwargs):
    """Writes an xarray.Dataset as a .clz file (see climz.xarray_backend.to_clz)."""
    from .xarray_backend import to_clz as _to_clz
    return _to_clz(dataset, path, **kwargs)


try:  # the Zarr codec registers itself with numcodecs ("climz") when numcodecs is there
    import numcodecs as _nc  # noqa: F401
except ImportError:
    pass
else:
    from . import numcodecs as _climz_numcodecs  # noqa: F401
