"""ctypes declarations of libclimz (include/climz.h): no compiled extension.

The library is found, in order, at $CLIMZ_LIBRARY, at build/libclimz.so of the source tree
this package sits in (python/climz -> ../../build), and by ctypes.util.find_library("climz").
Foreign calls through ctypes.CDLL release the GIL, so threads compress in parallel, each on
its own context (see _ctx()).
"""
import ctypes as C
import ctypes.util
import os
import threading

_HERE = os.path.dirname(os.path.abspath(__file__))


def _find_library():
    env = os.environ.get("CLIMZ_LIBRARY")
    if env:
        return env
    cand = os.path.normpath(os.path.join(_HERE, "..", "..", "build", "libclimz.so"))
    if os.path.exists(cand):
        return cand
    found = ctypes.util.find_library("climz")
    if found:
        return found
    raise ImportError("libclimz not found: build it (cmake --build build) or set CLIMZ_LIBRARY "
                      "to the path of libclimz.so")


CLIMZ_FLOAT32 = 1
CLIMZ_FLOAT64 = 2
CLIMZ_FIELD_FILL = 1
P_MAX_ABS_ERROR = 1
P_REL_ERROR = 2
P_THREADS = 3
P_TEMPORAL = 4
ERR_DST_TOO_SMALL = 7


class Field(C.Structure):
    _fields_ = [("type", C.c_int), ("data", C.c_void_p),
                ("nt", C.c_size_t), ("nz", C.c_size_t), ("ny", C.c_size_t), ("nx", C.c_size_t),
                ("st", C.c_ssize_t), ("sz", C.c_ssize_t), ("sy", C.c_ssize_t), ("sx", C.c_ssize_t),
                ("flags", C.c_uint), ("fill_value", C.c_double), ("lat", C.POINTER(C.c_double)),
                ("scale_factor", C.c_double), ("add_offset", C.c_double), ("name", C.c_char_p),
                ("ndims", C.c_int)]


class CompressOpts(C.Structure):
    _fields_ = [("codec", C.c_char_p), ("vars", C.POINTER(C.c_char_p)), ("model", C.c_char_p),
                ("options", C.POINTER(C.c_char_p)), ("progress", C.c_void_p),
                ("progress_user", C.c_void_p)]


class DecompressOpts(C.Structure):
    _fields_ = [("vars", C.POINTER(C.c_char_p)), ("time_first", C.c_long), ("time_count", C.c_long),
                ("model", C.c_char_p), ("options", C.POINTER(C.c_char_p))]


class VarInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("codec", C.c_char_p),
                ("nt", C.c_size_t), ("nz", C.c_size_t), ("ny", C.c_size_t), ("nx", C.c_size_t),
                ("dims", C.c_char_p * 8), ("dim_len", C.c_size_t * 8), ("ndims", C.c_int),
                ("max_abs_error_bound", C.c_double), ("time_group", C.c_size_t)]


lib = C.CDLL(_find_library())
path = lib._name

_ctx_p = C.c_void_p
_rdr_p = C.c_void_p
_sig = {
    "climz_version_string": (C.c_char_p, []),
    "climz_status_name": (C.c_char_p, [C.c_int]),
    "climz_status_message": (C.c_char_p, [C.c_int]),
    "climz_ctx_create": (_ctx_p, []),
    "climz_ctx_free": (None, [_ctx_p]),
    "climz_ctx_last_error": (C.c_char_p, [_ctx_p]),
    "climz_ctx_set_param": (C.c_int, [_ctx_p, C.c_int, C.c_double]),
    "climz_ctx_set_model": (C.c_int, [_ctx_p, C.c_char_p]),
    "climz_compress_bound": (C.c_size_t, [C.POINTER(Field)]),
    "climz_compress": (C.c_int, [_ctx_p, C.POINTER(Field), C.POINTER(CompressOpts), C.c_void_p, C.c_size_t,
                                 C.POINTER(C.c_size_t)]),
    "climz_frame_info": (C.c_int, [C.c_void_p, C.c_size_t, C.POINTER(Field)]),
    "climz_decompress": (C.c_int, [_ctx_p, C.c_void_p, C.c_size_t, C.POINTER(Field)]),
    "climz_compress_file": (C.c_int, [_ctx_p, C.c_char_p, C.c_char_p, C.POINTER(CompressOpts)]),
    "climz_decompress_file": (C.c_int, [_ctx_p, C.c_char_p, C.c_char_p, C.POINTER(DecompressOpts)]),
    "climz_info_json": (C.c_int, [_ctx_p, C.c_char_p, C.POINTER(C.c_void_p)]),
    "climz_free": (None, [C.c_void_p]),
    "climz_reader_open": (C.c_int, [_ctx_p, C.c_char_p, C.POINTER(_rdr_p)]),
    "climz_reader_open_buffer": (C.c_int, [_ctx_p, C.c_void_p, C.c_size_t, C.POINTER(_rdr_p)]),
    "climz_reader_free": (None, [_rdr_p]),
    "climz_reader_nvars": (C.c_size_t, [_rdr_p]),
    "climz_reader_var": (C.c_int, [_rdr_p, C.c_size_t, C.POINTER(VarInfo)]),
    "climz_reader_find": (C.c_int, [_rdr_p, C.c_char_p, C.POINTER(C.c_size_t)]),
    "climz_reader_read": (C.c_int, [_ctx_p, _rdr_p, C.c_size_t, C.c_size_t, C.c_size_t, C.POINTER(Field)]),
    "climz_reader_schema_json": (C.c_int, [_ctx_p, _rdr_p, C.POINTER(C.c_void_p)]),
    "climz_reader_read_stored": (C.c_int, [_ctx_p, _rdr_p, C.c_char_p, C.c_size_t, C.c_size_t, C.c_void_p,
                                           C.c_size_t]),
}
for _name, (_res, _args) in _sig.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


class ClimzError(RuntimeError):
    """A climz call failed: .status is the code's stable name ("CLIMZ_ERR_CORRUPT"), .code its
    number, .message the library's detailed message."""

    def __init__(self, code, message):
        self.code = int(code)
        self.status = lib.climz_status_name(code).decode()
        self.message = message or lib.climz_status_message(code).decode()
        super().__init__("%s: %s" % (self.status, self.message))


class _Ctx:
    """One climz_ctx, freed with its owner (a thread's local storage)."""

    def __init__(self):
        self.p = lib.climz_ctx_create()
        if not self.p:
            raise MemoryError("climz_ctx_create failed")
        self.model = None

    def __del__(self):
        if getattr(self, "p", None) and lib is not None:
            lib.climz_ctx_free(self.p)
            self.p = None


_local = threading.local()


def ctx():
    """This thread's context (created on first use; contexts share nothing)."""
    c = getattr(_local, "ctx", None)
    if c is None:
        c = _local.ctx = _Ctx()
    return c


def check(code, c=None):
    """Raises ClimzError for a non-zero status, with the context's message."""
    if code:
        msg = lib.climz_ctx_last_error(c.p).decode(errors="replace") if c is not None else ""
        raise ClimzError(code, msg)


def take_string(p):
    """A climz-allocated C string as str, freed."""
    try:
        return C.string_at(p).decode()
    finally:
        lib.climz_free(p)


def cstrings(items):
    """A NULL-terminated char*[] (kept alive by the returned object) or None."""
    if not items:
        return None
    arr = (C.c_char_p * (len(items) + 1))(*[s.encode() for s in items], None)
    return arr
