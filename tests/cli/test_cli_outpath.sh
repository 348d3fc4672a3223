#!/bin/bash
# Output-path safety: an output that is one of the inputs (by device and inode, through
# symlinks and hard links) or not a regular file is refused, and the input is left as it
# was; signals remove the temporary output; a stale temporary of a dead process is removed.
. "$(dirname "$0")/clitest.sh"

cp "$DATA/hgt.nc" "$OUT/h.nc"
sum() { sha256sum "$1" | cut -d' ' -f1; }
h0=$(sum "$OUT/h.nc")
same() { # same DESCRIPTION FILE SUM: the file is still there with the same bytes
    if [ "$(sum "$2" 2>/dev/null)" = "$3" ]; then ok; else bad "$1: the input was changed"; fi
}

expect_fail "compress onto the input" "same file as the input" - \
    "$CLIMZ" compress --rel-error 1e-2 "$OUT/h.nc" -o "$OUT/h.nc"
same "compress onto the input" "$OUT/h.nc" "$h0"
ln -s h.nc "$OUT/link.nc"
expect_fail "compress onto a symlink to the input" "same file as the input" - \
    "$CLIMZ" compress --rel-error 1e-2 "$OUT/h.nc" -o "$OUT/link.nc"
same "symlink" "$OUT/h.nc" "$h0"
ln "$OUT/h.nc" "$OUT/hard.nc"
expect_fail "compress onto a hard link of the input" "same file as the input" - \
    "$CLIMZ" compress --rel-error 1e-2 "$OUT/hard.nc" -o "$OUT/h.nc"
same "hard link" "$OUT/h.nc" "$h0"
expect_fail "compress onto the input through another path" "same file as the input" - \
    "$CLIMZ" compress --rel-error 1e-2 "$OUT/h.nc" -o "$OUT/../$(basename "$OUT")/./h.nc"
same "other path" "$OUT/h.nc" "$h0"
ls "$OUT"/h.nc.tmp.* >/dev/null 2>&1 && bad "a temporary file was left beside the input"

check "compress" "$CLIMZ" compress --rel-error 1e-2 "$OUT/h.nc" -o "$OUT/h.clz"
c0=$(sum "$OUT/h.clz")
expect_fail "decompress onto the input" "same file as the input" - \
    "$CLIMZ" decompress "$OUT/h.clz" -o "$OUT/h.clz"
same "decompress onto the input" "$OUT/h.clz" "$c0"
ln -s "$OUT/h.clz" "$OUT/clzlink"
expect_fail "decompress onto a symlink to the input" "same file as the input" - \
    "$CLIMZ" decompress "$OUT/clzlink" -o "$OUT/h.clz"
same "decompress symlink" "$OUT/h.clz" "$c0"

# a GrADS data set: the .dat the .ctl points at is an input too
awk 'BEGIN { for (i = 0; i < 4 * 3 * 2; i++) printf "%c%c%c%c", 0, 0, 128, 63 }' >"$OUT/g.dat"
printf 'DSET ^g.dat\nOPTIONS little_endian\nUNDEF -9.99E33\nXDEF 4 LINEAR 0 90\nYDEF 3 LINEAR -60 60\nZDEF 1 LEVELS 1000\nTDEF 2 LINEAR 01JAN2000 1DY\nVARS 1\nT 0 99 temperature\nENDVARS\n' >"$OUT/g.ctl"
g0=$(sum "$OUT/g.dat")
check "GrADS compress" "$CLIMZ" compress --max-abs-error 0.01 "$OUT/g.ctl" -o "$OUT/g.clz"
expect_fail "compress onto the GrADS .dat" "same file as the input.*g.dat" - \
    "$CLIMZ" compress --max-abs-error 0.01 "$OUT/g.ctl" -o "$OUT/g.dat"
same "GrADS .dat" "$OUT/g.dat" "$g0"
expect_fail "compress onto the GrADS .ctl" "same file as the input" - \
    "$CLIMZ" compress --max-abs-error 0.01 "$OUT/g.ctl" -o "$OUT/g.ctl"

# outputs that are not regular files are never replaced
mkfifo "$OUT/fifo"
expect_fail "compress onto a FIFO" "not a regular file" - \
    "$CLIMZ" compress --rel-error 1e-2 "$OUT/h.nc" -o "$OUT/fifo"
[ -p "$OUT/fifo" ] && ok || bad "the FIFO was replaced"
expect_fail "decompress onto a FIFO" "not a regular file" - \
    "$CLIMZ" decompress "$OUT/h.clz" -o "$OUT/fifo"
[ -p "$OUT/fifo" ] && ok || bad "the FIFO was replaced by decompress"
ls "$OUT"/fifo.tmp.* >/dev/null 2>&1 && bad "a temporary file was left beside the FIFO"
if [ -w /dev/null ] && [ -c /dev/null ]; then
    ln -s /dev/null "$OUT/null"
    expect_fail "compress onto a character device" "not a regular file" - \
        "$CLIMZ" compress --rel-error 1e-2 "$OUT/h.nc" -o "$OUT/null"
    [ -c /dev/null ] && ok || bad "/dev/null was replaced"
fi
mkdir "$OUT/dir"
expect_fail "compress onto a directory" "is a directory" - \
    "$CLIMZ" compress --rel-error 1e-2 "$OUT/h.nc" -o "$OUT/dir"

# a stale temporary of a process that no longer exists is removed by the next run to the
# same output; one of a live process is left alone
sh -c 'exit 0' & wait $!; dead=$!
touch "$OUT/s.clz.tmp.$dead.AbCdEf" "$OUT/s.clz.tmp.$$.AbCdEf"
check "compress beside stale temporaries" "$CLIMZ" compress --rel-error 1e-2 "$OUT/h.nc" -o "$OUT/s.clz"
[ -e "$OUT/s.clz.tmp.$dead.AbCdEf" ] && bad "the stale temporary of pid $dead was not removed" || ok
[ -e "$OUT/s.clz.tmp.$$.AbCdEf" ] && ok || bad "the temporary of a live process was removed"
rm -f "$OUT/s.clz.tmp.$$.AbCdEf"

# signals remove the temporary output (a large decompression, stopped while it writes)
big=$DATA/bcsd_obs_1999.nc
check "compress big" "$CLIMZ" compress --rel-error 1e-4 "$big" -o "$OUT/big.clz"
for sig in TERM INT HUP; do
    rm -f "$OUT/big.nc"
    "$CLIMZ" decompress "$OUT/big.clz" -o "$OUT/big.nc" >/dev/null 2>&1 &
    pid=$!
    # wait until the temporary exists (or the run ended), then signal
    for i in $(seq 200); do ls "$OUT"/big.nc.tmp.* >/dev/null 2>&1 && break; kill -0 $pid 2>/dev/null || break; sleep 0.01; done
    kill -$sig $pid 2>/dev/null
    wait $pid
    rc=$?
    if ls "$OUT"/big.nc.tmp.* >/dev/null 2>&1; then bad "SIG$sig left a temporary file"; rm -f "$OUT"/big.nc.tmp.*; else ok; fi
    [ $rc -ne 0 ] || [ -e "$OUT/big.nc" ] || bad "SIG$sig: exit 0 without output"
done
finish
