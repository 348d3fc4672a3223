# mpitest.sh — sourced by the MPI tests: $1 climz, $2 mpiexec (or "none"), $3 data, $4 scratch.
set -u
CLIMZ=$1 MPIEXEC=$2 DATA=$3 OUT=$4
if [ "$MPIEXEC" = none ]; then echo "MPI was not found at configure time: skipped"; exit 77; fi
rm -rf "$OUT" && mkdir -p "$OUT"
# as root OpenMPI needs --allow-run-as-root; 2 ranks on fewer cores need --oversubscribe
MPIRUN="$MPIEXEC -n 2 --oversubscribe"
[ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
finish() { [ $FAILS -eq 0 ] && echo "all passed" && exit 0; echo "$FAILS failure(s)"; exit 1; }
