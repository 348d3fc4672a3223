#!/bin/sh
# deps.sh — installs the Debian packages climz needs to build, test and benchmark, if any is
# missing. As root it runs apt-get; otherwise it prints the command to run and fails.
set -e
PKGS="build-essential cmake pkg-config libnetcdf-dev netcdf-bin libeccodes-dev libeccodes-tools
libopenblas-dev libjansson-dev nettle-dev libzstd-dev zlib1g-dev libzfp-dev zfp libfpzip-dev fpzip-utils zstd
libhdf5-dev hdf5-tools hdf5-filter-plugin-zfp-serial python3-h5py python3-netcdf4 python3-xarray
libopenmpi-dev openmpi-bin"
# the Python package (python/climz) and its tests: numpy API, xarray backend, Zarr codec, Dask, plots
PKGS="$PKGS python3-numpy python3-zarr python3-numcodecs python3-dask python3-distributed
python3-matplotlib python3-pytest"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "climz: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq $missing >/dev/null
else
    echo "climz: missing Debian packages; run as root:" >&2
    echo "  apt-get install -y$missing" >&2
    exit 1
fi
