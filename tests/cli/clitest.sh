# clitest.sh — helpers sourced by the CLI test scripts.
# usage in a script: CLIMZ=$1 DATA=$2 OUT=$3; . clitest.sh
set -u
CLIMZ=$1
DATA=$2
OUT=$3
rm -rf "$OUT" && mkdir -p "$OUT"
pass=0
failed=0
ok() { pass=$((pass + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { # check DESCRIPTION COMMAND...: the command must succeed
    local what=$1; shift
    if "$@" >"$OUT/last.out" 2>"$OUT/last.err"; then ok; else bad "$what"; cat "$OUT/last.err" >&2; fi
}
# expect_fail DESCRIPTION PATTERN OUTPUT_FILE COMMAND...: non-zero exit, stderr matches
# PATTERN (extended regex), OUTPUT_FILE (if not "-") does not exist afterwards, and no
# temporary file is left beside it.
expect_fail() {
    local what=$1 pat=$2 outf=$3; shift 3
    "$@" >"$OUT/last.out" 2>"$OUT/last.err"
    local rc=$?
    if [ $rc -eq 0 ]; then bad "$what: exit 0"; return; fi
    if [ $rc -ge 128 ]; then bad "$what: crashed (exit $rc)"; cat "$OUT/last.err" >&2; return; fi
    if ! grep -Eq "$pat" "$OUT/last.err"; then bad "$what: message does not match /$pat/:"; cat "$OUT/last.err" >&2; return; fi
    if [ "$outf" != - ] && [ -e "$outf" ]; then bad "$what: partial output $outf left behind"; return; fi
    if [ "$outf" != - ] && ls "$outf".tmp.* >/dev/null 2>&1; then bad "$what: temporary file left behind"; return; fi
    ok
}
finish() {
    echo "$pass passed, $failed failed"
    [ $failed -eq 0 ]
}
