"""numpy API over the in-memory C API: compress / decompress frames, random-access readers,
and the file-level operations."""
import ctypes as C
import json
import os

import numpy as np

from . import _lib
from ._lib import ClimzError, Field, check, ctx, lib

_TYPES = {np.dtype(np.float32): _lib.CLIMZ_FLOAT32, np.dtype(np.float64): _lib.CLIMZ_FLOAT64}
_DTYPES = {_lib.CLIMZ_FLOAT32: np.dtype(np.float32), _lib.CLIMZ_FLOAT64: np.dtype(np.float64)}


def version():
    """Version string of the loaded libclimz ("0.1.0")."""
    return lib.climz_version_string().decode()


def _as4d(a):
    """a as a view of four dims (t, z, y, x), right-aligned: (x) -> (1, 1, 1, x),
    (y, x) -> (1, 1, y, x), (t, y, x) -> (t, 1, y, x); more than four dims fold the middle ones
    into z (a copy only when numpy cannot fold them without one)."""
    if a.ndim == 0:
        return a.reshape(1, 1, 1, 1)
    if a.ndim == 1:
        return a[None, None, None, :]
    if a.ndim == 2:
        return a[None, None, :, :]
    if a.ndim == 3:
        return a[:, None, :, :]
    if a.ndim == 4:
        return a
    return a.reshape(a.shape[0], -1, a.shape[-2], a.shape[-1])


def _field(a4, fill_value=None, lat=None, name=None, scale_factor=0.0, add_offset=0.0):
    """A climz_field over the 4-D array a4's own memory (its strides in elements), or None
    when its strides are not whole elements (then the caller copies)."""
    f = Field()
    f.type = _TYPES[a4.dtype]
    f.nt, f.nz, f.ny, f.nx = a4.shape
    isz = a4.itemsize
    strides = []
    cstride = 1
    for n, s in zip(reversed(a4.shape), reversed(a4.strides)):
        if n == 1:
            s = cstride * isz  # any stride is valid for a dim of one; keep the C-order one
        if s % isz:
            return None
        strides.append(s // isz)
        cstride *= n
    strides.reverse()
    if all(s == 0 for s in strides):  # "all 0" means C order to the library
        return None
    f.st, f.sz, f.sy, f.sx = strides
    f.data = a4.ctypes.data if a4.size else None
    if fill_value is not None:
        f.flags = _lib.CLIMZ_FIELD_FILL
        f.fill_value = float(fill_value)
    if lat is not None:
        lat = np.ascontiguousarray(lat, dtype=np.float64)
        if lat.shape != (f.ny,):
            raise ValueError("lat has %s values, the array %d rows" % (lat.shape, f.ny))
        f.lat = lat.ctypes.data_as(C.POINTER(C.c_double))
        f._lat_keep = lat
    f.scale_factor = scale_factor or 0.0
    f.add_offset = add_offset or 0.0
    if name:
        f._name_keep = name.encode()
        f.name = f._name_keep
    return f


def _opts(codec, model, options):
    o = _lib.CompressOpts()
    keep = []
    if codec:
        keep.append(codec.encode())
        o.codec = keep[-1]
    if model:
        keep.append(os.fsencode(model))
        o.model = keep[-1]
    if options:
        if isinstance(options, dict):
            options = ["%s=%s" % kv for kv in options.items()]
        arr = _lib.cstrings(list(options))
        keep.append(arr)
        o.options = arr
    o._keep = keep
    return o


def _set_bound(c, max_abs_error, rel_error, threads=None):
    check(lib.climz_ctx_set_param(c.p, _lib.P_MAX_ABS_ERROR, float(max_abs_error or 0.0)), c)
    check(lib.climz_ctx_set_param(c.p, _lib.P_REL_ERROR, float(rel_error or 0.0)), c)
    if threads is not None:
        check(lib.climz_ctx_set_param(c.p, _lib.P_THREADS, float(threads)), c)


def compress(array, max_abs_error=None, rel_error=None, codec="residual", model=None, *, options=None,
             fill_value=None, lat=None, name=None, scale_factor=None, add_offset=None, threads=None):
    """Compresses a float32 or float64 array into a frame (bytes): a one-variable .clz image
    that `climz info` reads.

    max_abs_error: every point within this of the original (None or 0 with rel_error None:
    lossless); rel_error: the bound as a fraction of the valid values' range instead.
    codec: "residual", "vaeformer" (model: a model file, None = the bundled one) or "inr";
    options: codec options as a dict or "key=value" strings. NaN is always missing; with
    fill_value, points equal to it are missing too (their exact bits come back). lat: the
    latitudes of the rows (learned codecs weight their errors by them). Up to four dims are
    (t, z, y, x) right-aligned; the last two are the grid. Strided and sliced arrays are
    read in place (no copy); GIL released while compressing.
    """
    a = np.asarray(array)
    if a.dtype not in _TYPES:
        if a.dtype.kind == "f" and a.dtype.itemsize < 4:  # float16
            a = a.astype(np.float32)
        else:
            raise TypeError("climz.compress takes float32 or float64 arrays, not %s" % a.dtype)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    a4 = _as4d(a)
    f = _field(a4, fill_value, lat, name, scale_factor, add_offset)
    if f is None:
        a4 = np.ascontiguousarray(a4)
        f = _field(a4, fill_value, lat, name, scale_factor, add_offset)
    f.ndims = a.ndim if 1 <= a.ndim <= 4 else 0
    c = ctx()
    _set_bound(c, max_abs_error, rel_error, threads)
    opts = _opts(codec, model, options)
    cap = lib.climz_compress_bound(C.byref(f))
    if cap == 0:
        raise ClimzError(17, "the array (shape %s) cannot be described as a field" % (a.shape,))
    dst = np.empty(cap, dtype=np.uint8)
    n = C.c_size_t(0)
    check(lib.climz_compress(c.p, C.byref(f), C.byref(opts), dst.ctypes.data, cap, C.byref(n)), c)
    return dst[:n.value].tobytes()


def _buffer(data):
    """(uint8 ndarray view, address) of any bytes-like object, without a copy."""
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
    return buf, buf.ctypes.data


def frame_info(data):
    """(dtype, (nt, nz, ny, nx), fill_value or None, scale_factor, add_offset) of a frame."""
    return _frame_info(data)[:5]


def _frame_info(data):
    """frame_info() and the number of dims of the array the frame was made from (0: unknown)."""
    buf, addr = _buffer(data)
    f = Field()
    check(lib.climz_frame_info(addr, buf.size, C.byref(f)))
    fill = f.fill_value if f.flags & _lib.CLIMZ_FIELD_FILL else None
    return _DTYPES[f.type], (f.nt, f.nz, f.ny, f.nx), fill, f.scale_factor, f.add_offset, f.ndims


def _shape_of(shape4, ndims):
    """The shape of an array of ndims dims that _as4d made (t, z, y, x) of."""
    t, z, y, x = shape4
    return {1: (x,), 2: (y, x), 3: (t, y, x), 4: shape4}[ndims]


def _squeeze_shape(shape4):
    """The frame's (t, z, y, x) without t and z where they are one: (t, y, x) arrays come back
    as such, 2-D ones as 2-D: for frames that do not record how many dims the array had."""
    t, z, y, x = shape4
    return tuple(d for d in (t, z) if d != 1) + (y, x)


def decompress(data, out=None, *, shape=None, dtype=None, model=None, threads=None):
    """Decodes a frame into a numpy array: the frame's dtype (or dtype=), and the shape of the
    array it was made from (frames of this package record it; for others leading dims of one
    are dropped, at least 2-D) unless shape= is given. out: an array to decode
    into instead (any strides; float32 or float64; as many points as the frame). Missing
    points come back with their exact bits (NaN payloads and fill values). model: the model
    file of a learned codec when not at its recorded place."""
    buf, addr = _buffer(data)
    fdt, shape4, _, _, _, ndims = _frame_info(buf)
    if out is None:
        dt = np.dtype(dtype) if dtype is not None else fdt
        if shape is None:
            shape = _shape_of(shape4, ndims) if ndims else _squeeze_shape(shape4)
        out = np.empty(shape, dtype=dt)
    target = out
    if not isinstance(out, np.ndarray) or out.dtype not in _TYPES:
        target = np.frombuffer(out, dtype=fdt) if not isinstance(out, np.ndarray) else out.reshape(-1).view(fdt)
    n4 = shape4[0] * shape4[1] * shape4[2] * shape4[3]
    if target.size != n4:
        raise ValueError("the frame holds %d points %s, out has %d" % (n4, shape4, target.size))
    if not target.flags.writeable:
        raise ValueError("out is read-only")
    view = target.reshape(shape4) if target.flags.c_contiguous else None
    if view is None:
        try:
            view = target.view()
            view.shape = shape4  # raises instead of copying
        except AttributeError:
            tmp = decompress(buf, shape=shape4, dtype=target.dtype, model=model, threads=threads)
            target[...] = tmp.reshape(target.shape)
            return out
    f = _field(view)
    c = ctx()
    if threads is not None:
        check(lib.climz_ctx_set_param(c.p, _lib.P_THREADS, float(threads)), c)
    _set_model(c, model)
    check(lib.climz_decompress(c.p, addr, buf.size, C.byref(f)), c)
    return out


def _set_model(c, model):
    if model != c.model:
        check(lib.climz_ctx_set_model(c.p, os.fsencode(model) if model else None), c)
        c.model = model


def _hexattr(a):
    """One attribute of the schema JSON as a Python / numpy value."""
    t = a["type"]
    if t in ("char", "string"):
        return a["value"]
    v = np.frombuffer(bytes.fromhex(a["hex"]), dtype=np.dtype(CDL_DTYPES[t]).newbyteorder("<"))
    v = v.astype(v.dtype.newbyteorder("="))
    return v[0] if v.size == 1 else v


CDL_DTYPES = {"byte": "i1", "ubyte": "u1", "short": "i2", "ushort": "u2", "int": "i4", "uint": "u4",
              "int64": "i8", "uint64": "u8", "float": "f4", "double": "f8", "char": "S1", "string": "O"}


class Reader:
    """Random access into a .clz file (path) or image in memory (bytes-like, kept alive):
    .variables (coded ones: name -> info dict), read() decodes only the chunks of the steps
    asked for; .schema is the whole data set (dims, attributes, every variable), and
    read_stored() any variable in its stored type, bit for bit as `climz decompress` writes
    it. Safe to share between threads (each uses its own context)."""

    def __init__(self, source):
        c = ctx()
        p = C.c_void_p()
        self._buf = None
        if isinstance(source, (str, bytes, os.PathLike)) and not isinstance(source, bytes):
            self.path = os.fspath(source)
            check(lib.climz_reader_open(c.p, os.fsencode(self.path), C.byref(p)), c)
        else:
            self.path = None
            self._buf, addr = _buffer(source)
            check(lib.climz_reader_open_buffer(c.p, addr, self._buf.size, C.byref(p)), c)
        self._p = p
        self.variables = {}
        for i in range(lib.climz_reader_nvars(p)):
            vi = _lib.VarInfo()
            check(lib.climz_reader_var(p, i, C.byref(vi)))
            info = {"index": i, "codec": vi.codec.decode(), "shape4": (vi.nt, vi.nz, vi.ny, vi.nx),
                    "dims": tuple(vi.dims[d].decode() for d in range(vi.ndims)),
                    "shape": tuple(vi.dim_len[d] for d in range(vi.ndims)),
                    "max_abs_error_bound": vi.max_abs_error_bound, "time_group": vi.time_group}
            self.variables[vi.name.decode()] = info
        js = C.c_void_p()
        check(lib.climz_reader_schema_json(c.p, p, C.byref(js)), c)
        self.schema = json.loads(_lib.take_string(js))
        self._vars = {v["name"]: v for v in self.schema["variables"]}

    def __reduce__(self):  # pickled as its source, reopened on the other side (Dask workers)
        return (Reader, (self.path if self.path is not None else self._buf.tobytes(),))

    def close(self):
        if getattr(self, "_p", None):
            lib.climz_reader_free(self._p)
            self._p = None

    def __del__(self):
        if lib is not None:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def attrs(self, name=None):
        """Global attributes (name None) or a variable's, as a dict of Python / numpy values."""
        src = self.schema["attributes"] if name is None else self._vars[name]["attributes"]
        return {a["name"]: _hexattr(a) for a in src}

    def read(self, name, t0=0, nt=None, dtype=np.float32, fill_value=None, model=None):
        """Steps [t0, t0 + nt) of coded variable name, unpacked, as (nt, nz, ny, nx); missing
        points are NaN (or fill_value)."""
        info = self.variables[name]
        T = info["shape4"][0]
        nt = T - t0 if nt is None else nt
        out = np.empty((nt,) + info["shape4"][1:], dtype=dtype)
        f = _field(out, fill_value)
        c = ctx()
        _set_model(c, model)
        check(lib.climz_reader_read(c.p, self._p, info["index"], t0, nt, C.byref(f)), c)
        return out

    def stored_dtype(self, name):
        return np.dtype(CDL_DTYPES[self._vars[name]["type"]])

    def stored_shape(self, name):
        dl = {d["name"]: d["len"] for d in self.schema["dims"]}
        return tuple(dl[d] for d in self._vars[name]["dims"])

    def read_stored(self, name, t0=0, nt=0, model=None):
        """Variable name in its stored type and dims (steps [t0, t0 + nt) of the time axis when
        it has one; nt = 0 with t0 = 0: all), bit for bit as `climz decompress` writes it."""
        v = self._vars[name]
        shape = list(self.stored_shape(name))
        dt = self.stored_dtype(name)
        if v["type"] == "string":
            raise ClimzError(8, "variable '%s' holds strings" % name)
        if v["time_axis"] and (nt or t0):
            shape[0] = nt
        out = np.empty(shape, dtype=dt)
        c = ctx()
        _set_model(c, model)
        check(lib.climz_reader_read_stored(c.p, self._p, name.encode(), t0, nt, out.ctypes.data if out.size else
                                           C.c_void_p(1), out.nbytes), c)
        return out


def compress_file(src, dst, max_abs_error=None, rel_error=None, codec="residual", model=None, vars=None,
                  options=None, threads=None, temporal=False):
    """climz_compress_file: a NetCDF / GRIB file into a .clz file."""
    c = ctx()
    _set_bound(c, max_abs_error, rel_error, threads)
    check(lib.climz_ctx_set_param(c.p, _lib.P_TEMPORAL, 1.0 if temporal else 0.0), c)
    o = _opts(codec, model, options)
    if vars:
        o._vars = _lib.cstrings(list(vars))
        o.vars = o._vars
    try:
        check(lib.climz_compress_file(c.p, os.fsencode(src), os.fsencode(dst), C.byref(o)), c)
    finally:
        lib.climz_ctx_set_param(c.p, _lib.P_TEMPORAL, 0.0)


def decompress_file(src, dst, vars=None, time_first=0, time_count=0, model=None):
    """climz_decompress_file: a .clz file back to NetCDF."""
    c = ctx()
    o = _lib.DecompressOpts()
    if vars:
        o._vars = _lib.cstrings(list(vars))
        o.vars = o._vars
    o.time_first, o.time_count = time_first, time_count
    if model:
        o._model = os.fsencode(model)
        o.model = o._model
    check(lib.climz_decompress_file(c.p, os.fsencode(src), os.fsencode(dst), C.byref(o)), c)


def info(path):
    """climz_info_json of a .clz file, parsed."""
    c = ctx()
    p = C.c_void_p()
    check(lib.climz_info_json(c.p, os.fsencode(path), C.byref(p)), c)
    return json.loads(_lib.take_string(p))
