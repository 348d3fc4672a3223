"""climz as a numcodecs codec (id "climz") for Zarr arrays.

    import climz.numcodecs                               # registers "climz" with numcodecs
    z = zarr.open("t.zarr", mode="w", shape=(504, 721, 1440), chunks=(24, 721, 1440),
                  dtype="f4", fill_value=float("nan"),
                  compressor=climz.numcodecs.Climz(max_abs_error=0.05))

Each chunk becomes one frame (a one-variable .clz image): a C-ordered chunk keeps its shape
(the last two dims are the grid), a Fortran-ordered one is coded in its memory order, and raw
bytes are coded as one row of `dtype` values. NaN marks missing points (fill_value too, when
given) and comes back exactly.
"""
import hashlib
import os

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ensure_ndarray
from numcodecs.registry import register_codec

from . import core


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Climz(Codec):
    """Error-bounded (residual) or learned (vaeformer, inr) compression of float chunks.

    max_abs_error / rel_error: the bound (both 0: lossless for the residual codec);
    codec: "residual", "vaeformer" or "inr"; model: the model file of vaeformer (None = the
    bundled one); the config records its SHA-256 (model_sha256), which the frame records
    too and the decoder checks; options: codec options ("key=value" strings);
    dtype: the type of raw byte input ("<f4" or "<f8"); fill_value: values that mean
    missing besides NaN."""

    codec_id = "climz"

    def __init__(self, max_abs_error=0.0, rel_error=0.0, codec="residual", model=None, model_sha256=None,
                 options=None, dtype="<f4", fill_value=None):
        self.max_abs_error = float(max_abs_error or 0.0)
        self.rel_error = float(rel_error or 0.0)
        self.codec = codec
        self.model = os.fspath(model) if model else None
        self.model_sha256 = model_sha256
        if self.model and not self.model_sha256:
            self.model_sha256 = _sha256(self.model)
        self.options = list(options) if options else None
        self.dtype = np.dtype(dtype).str
        if self.dtype not in ("<f4", "<f8"):
            raise ValueError("climz codes float32 or float64 values, not %s" % dtype)
        self.fill_value = None if fill_value is None else float(fill_value)

    def get_config(self):
        cfg = {"id": self.codec_id, "max_abs_error": self.max_abs_error, "rel_error": self.rel_error,
               "codec": self.codec, "dtype": self.dtype}
        # learned-codec keys only when used, so that residual configs stay short
        for k in ("model", "model_sha256", "options", "fill_value"):
            v = getattr(self, k)
            if v is not None:
                cfg[k] = v
        return cfg

    def __repr__(self):
        args = ["max_abs_error=%r" % self.max_abs_error]
        if self.rel_error:
            args.append("rel_error=%r" % self.rel_error)
        if self.codec != "residual":
            args.append("codec=%r" % self.codec)
        for k in ("model", "model_sha256", "options", "fill_value"):
            if getattr(self, k) is not None:
                args.append("%s=%r" % (k, getattr(self, k)))
        if self.dtype != "<f4":
            args.append("dtype=%r" % self.dtype)
        return "Climz(%s)" % ", ".join(args)

    def _array(self, buf):
        if isinstance(buf, np.ndarray) and buf.dtype.kind == "f" and buf.dtype.itemsize in (4, 8):
            a = buf
            if a.flags.c_contiguous:
                return a
            if a.flags.f_contiguous:
                return a.T  # memory order: decode gives the same bytes back
            return np.ascontiguousarray(a)
        a = ensure_contiguous_ndarray(buf)
        return a.reshape(-1).view(self.dtype)

    def encode(self, buf):
        a = self._array(buf)
        return core.compress(a, max_abs_error=self.max_abs_error, rel_error=self.rel_error, codec=self.codec,
                             model=self.model, options=self.options, fill_value=self.fill_value)

    def _decode_model(self):
        # the recorded model (found by the library beside the program or in models/, checked
        # by SHA-256) unless the configured file is here
        return self.model if self.model and os.path.exists(self.model) else None

    def decode(self, buf, out=None):
        if isinstance(buf, np.ndarray) or not isinstance(buf, (bytes, bytearray)):
            buf = ensure_contiguous_ndarray(buf)
        if out is not None:
            o = ensure_contiguous_ndarray(out)
            dt = core.frame_info(buf)[0]
            target = o.reshape(-1).view(dt) if o.dtype != dt else o.reshape(-1)
            core.decompress(buf, out=target, model=self._decode_model())
            return out
        a = core.decompress(buf, model=self._decode_model())
        return ensure_ndarray(a).reshape(-1)


register_codec(Climz)
