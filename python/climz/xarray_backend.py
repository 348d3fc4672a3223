"""xarray backend for .clz files (engine="climz") and climz.to_clz().

    ds = xr.open_dataset("era5.clz", engine="climz")            # lazy; or climz.open_dataset
    ds = xr.open_dataset("era5.clz", engine="climz", chunks={})  # Dask, chunks = time groups
    ds = xr.open_mfdataset("run/*.clz", engine="climz")

Every variable is offered as `climz decompress` writes it to NetCDF (stored type, packing,
_FillValue / missing_value bits, attributes), and xarray's CF decoding (mask_and_scale,
decode_times, ...) turns it into values, so a Dataset opened here equals
xr.open_dataset() of the decompressed NetCDF bit for bit. Coded variables are lazy: an
indexing operation decodes only the chunks of the time steps it touches
(climz_reader_read_stored); the preferred Dask chunk along time is the variable's time group
(steps the codec decodes together). Variables of NetCDF-4 sub-groups and string variables
are not offered.
"""
import os
import tempfile
import threading

import numpy as np
from xarray import Variable
from xarray.backends.common import AbstractDataStore, BackendArray, BackendEntrypoint
from xarray.backends.store import StoreBackendEntrypoint
from xarray.core import indexing
from xarray.core.utils import FrozenDict

from . import core

_cache_lock = threading.Lock()
_cache = {}


def _reader(path):
    """One Reader per file and process (readers are safe to share between threads); reopened
    when the file changes."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    with _cache_lock:
        r = _cache.get(key)
        if r is None:
            r = _cache[key] = core.Reader(path)
        return r


def _text(v):
    if isinstance(v, str):
        return v.rstrip("\x00")  # some files count a trailing NUL (netCDF4-python drops it)
    if isinstance(v, list):
        return [_text(x) for x in v]
    return v


class ClimzBackendArray(BackendArray):
    """A variable of a .clz in its stored type; indexing decodes only the steps touched.
    Picklable (by path) for Dask's distributed scheduler."""

    def __init__(self, source, name, shape, dtype, time_axis):
        self.source = source  # a path, or a core.Reader over a buffer
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.time_axis = time_axis

    def _r(self):
        return _reader(self.source) if isinstance(self.source, str) else self.source

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._raw)

    def _raw(self, key):
        r = self._r()
        if not self.time_axis or not self.shape:
            return r.read_stored(self.name)[key]
        k0 = key[0]
        T = self.shape[0]
        if isinstance(k0, (int, np.integer)):
            t = int(k0) % T
            return r.read_stored(self.name, t, 1)[(0,) + tuple(key[1:])]
        start, stop, step = k0.indices(T)
        idx = range(start, stop, step)
        if len(idx) == 0:
            return np.empty((0,) + self.shape[1:], self.dtype)[(slice(None),) + tuple(key[1:])]
        lo, hi = min(idx[0], idx[-1]), max(idx[0], idx[-1]) + 1
        block = r.read_stored(self.name, lo, hi - lo)
        rel = slice(start - lo, stop - lo if stop - lo >= 0 else None, step)
        return block[(rel,) + tuple(key[1:])]

class ClimzDataStore(AbstractDataStore):
    """The data set of one .clz file (path) or image (bytes-like) for xarray."""

    def __init__(self, source):
        if isinstance(source, (str, os.PathLike)):
            self.source = os.fspath(source)
            self.reader = _reader(self.source)
        else:
            self.reader = core.Reader(source)
            self.source = self.reader
        self.schema = self.reader.schema

    def get_dimensions(self):
        return FrozenDict((d["name"], d["len"]) for d in self.schema["dims"] if "/" not in d["name"])

    def get_attrs(self):
        return FrozenDict((k, _text(v)) for k, v in self.reader.attrs().items())

    def get_encoding(self):
        unl = {d["name"] for d in self.schema["dims"] if d["unlimited"]}
        return {"unlimited_dims": unl, "source": self.source if isinstance(self.source, str) else None}

    def get_variables(self):
        out = {}
        coded = self.reader.variables
        for v in self.schema["variables"]:
            name = v["name"]
            if "/" in name or v["type"] == "string":
                continue
            attrs = {k: _text(a) for k, a in self.reader.attrs(name).items()}
            shape = self.reader.stored_shape(name)
            dtype = self.reader.stored_dtype(name)
            enc = {"dtype": dtype}
            if v["coded"] >= 0:
                info = coded[name]
                arr = ClimzBackendArray(self.source, name, shape, dtype, v["time_axis"])
                data = indexing.LazilyIndexedArray(arr)
                enc["climz_codec"] = info["codec"]
                enc["climz_max_abs_error"] = info["max_abs_error_bound"]
                if v["time_axis"]:
                    pref = {v["dims"][0]: info["time_group"]}
                    pref.update({d: n for d, n in zip(v["dims"][1:], shape[1:])})
                    enc["preferred_chunks"] = pref
            else:
                data = self.reader.read_stored(name)
            if isinstance(self.source, str):
                enc["source"] = self.source
            out[name] = Variable(tuple(v["dims"]), data, attrs, enc)
        return FrozenDict(out)

    def close(self):
        pass  # readers are cached per file and freed with the process (or climz.xarray_backend.clear_cache())


def clear_cache():
    """Closes every cached reader (open Datasets over them must not be used afterwards)."""
    with _cache_lock:
        for r in _cache.values():
            r.close()
        _cache.clear()


class ClimzBackendEntrypoint(BackendEntrypoint):
    """xarray.open_dataset(path, engine="climz")."""

    description = "Open climz .clz files (lossy / error-bounded compressed climate data) in xarray"
    url = "https://github.com/climz/climz"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "mask_and_scale", "decode_times",
                               "concat_characters", "decode_coords", "use_cftime", "decode_timedelta")

    def open_dataset(self, filename_or_obj, *, mask_and_scale=True, decode_times=True, concat_characters=True,
                     decode_coords=True, drop_variables=None, use_cftime=None, decode_timedelta=None):
        store = ClimzDataStore(filename_or_obj)
        return StoreBackendEntrypoint().open_dataset(
            store, mask_and_scale=mask_and_scale, decode_times=decode_times, concat_characters=concat_characters,
            decode_coords=decode_coords, drop_variables=drop_variables, use_cftime=use_cftime,
            decode_timedelta=decode_timedelta)

    def guess_can_open(self, filename_or_obj):
        try:
            if isinstance(filename_or_obj, (str, os.PathLike)):
                with open(filename_or_obj, "rb") as f:
                    return f.read(8) == b"\x89CLZ\r\n\x1a\n"
        except OSError:
            return False
        return False


def to_clz(dataset, path, max_abs_error=None, rel_error=None, codec="residual", model=None, vars=None,
           options=None, threads=None, temporal=False, tmpdir=None):
    """Writes an xarray.Dataset as a .clz file: xarray writes it as a temporary NetCDF-4 file
    (coordinates, attributes and encodings -- dtype, scale_factor, _FillValue, units of times
    -- as Dataset.to_netcdf keeps them) in tmpdir (default: beside path), which
    climz_compress_file codes (every gridded variable, or vars, with codec under the bound;
    the others stored losslessly) and which is then removed. The dataset is computed
    (Dask arrays included) while writing the temporary file."""
    path = os.fspath(path)
    d = tmpdir or os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".nc", prefix=".climz-", dir=d)
    os.close(fd)
    try:
        dataset.to_netcdf(tmp, format="NETCDF4")
        core.compress_file(tmp, path, max_abs_error=max_abs_error, rel_error=rel_error, codec=codec, model=model,
                           vars=vars, options=options, threads=threads, temporal=temporal)
    finally:
        os.unlink(tmp)
