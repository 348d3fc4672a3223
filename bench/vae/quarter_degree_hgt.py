#!/usr/bin/python3
"""quarter_degree_hgt.py — writes the 721 x 1440 (0.25 degree) test field of the encoder-speed
benchmark as CDL: step 0 of data/hgt.nc (73 x 144, 2.5 degrees) interpolated bilinearly, in
float32, as bench/api/bench_memory.c makes it in memory (same formula, longitude wrapping).

    ncdump -v HGT -l 100000 data/hgt.nc | python3 bench/vae/quarter_degree_hgt.py > f.cdl
    ncgen -o hgt_721x1440.nc f.cdl
"""
import math
import re
import struct
import sys

text = sys.stdin.read()
body = text.split("HGT =", 1)[1].split(";", 1)[0]
src = [float(v) for v in re.findall(r"-?[0-9.]+(?:e[-+]?[0-9]+)?", body)][:73 * 144]
if len(src) != 73 * 144:
    sys.exit("quarter_degree_hgt.py: expected 73 x 144 values of HGT on stdin (ncdump -v HGT)")
NY, NX = 721, 1440


def f32(v):
    return struct.unpack("f", struct.pack("f", v))[0]


out = sys.stdout
out.write("netcdf hgt_721x1440 {\ndimensions:\n lat = 721 ;\n lon = 1440 ;\nvariables:\n"
          " double lat(lat) ;\n  lat:units = \"degrees_north\" ;\n double lon(lon) ;\n"
          "  lon:units = \"degrees_east\" ;\n float HGT(lat, lon) ;\n  HGT:units = \"m\" ;\ndata:\n")
out.write(" lat = " + ", ".join(repr(90.0 - 0.25 * y) for y in range(NY)) + " ;\n")
out.write(" lon = " + ", ".join(repr(0.25 * x) for x in range(NX)) + " ;\n")
vals = []
for y in range(NY):
    fy = y / 10.0
    y0 = min(int(fy), 71)
    wy = fy - y0
    r0, r1 = src[y0 * 144:(y0 + 1) * 144], src[(y0 + 1) * 144:(y0 + 2) * 144]
    for x in range(NX):
        fx = x / 10.0
        x0 = int(fx) % 144
        x1 = (x0 + 1) % 144
        wx = fx - math.floor(fx)
        v = (1 - wy) * ((1 - wx) * r0[x0] + wx * r0[x1]) + wy * ((1 - wx) * r1[x0] + wx * r1[x1])
        vals.append(repr(f32(v)))
out.write(" HGT = " + ", ".join(vals) + " ;\n}\n")
