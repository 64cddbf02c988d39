#!/usr/bin/env bash
# Every test, in two streams that run side by side (each mostly keeps one of the two cores busy):
#   R:      R CMD check of rkd (runs its testthat suite), the four vignettes rendered with
#           RKD_QUICK=1 (the same code on a fraction of their training budget), then the
#           one-round miniatures of `make bench` and `make bench-quality` (pytest -m bench)
#   Python: pytest, but for LATE_TESTS (workers, teachers, the R/Python parity test, storage), which the R stream
#           runs last
# Each stream's lines are shown as they come, prefixed [R] or [py]; the script fails if either fails.
# The suite runs as on hardware that computes bfloat16 (PYKD_BFLOAT16=1: tests/conftest.py), the R
# stream as on hardware that does not (PYKD_BFLOAT16=0), so both precisions run whatever the CPU.
# Pass one stage (check | r | vignettes | python | bench | seed) to run just it; `seed` is the R
# tutorial's scenario at full size (minutes), which the testthat suite runs at small size.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export RETICULATE_PYTHON=${RETICULATE_PYTHON:-$ROOT/.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=2
stage=${1:-all}

r_check() {
  echo "==> R CMD check rkd"
  local tmp; tmp=$(mktemp -d)
  Rscript -e 'roxygen2::roxygenise("Rpkg")' >/dev/null
  (cd "$tmp" && R CMD build --no-build-vignettes "$ROOT/Rpkg" >/dev/null)
  local tarball; tarball=$(ls "$tmp"/rkd_*.tar.gz)
  (cd "$tmp" && _R_CHECK_FORCE_SUGGESTS_=false R CMD check --no-manual "$tarball" 2>&1 | tee check.log)
  if grep -qE "^Status:.*(ERROR|WARNING)" "$tmp/check.log" || ! grep -q "^Status:" "$tmp/check.log"; then
    echo "R CMD check reported errors or warnings" >&2
    cat "$tmp"/rkd.Rcheck/tests/testthat.Rout.fail 2>/dev/null | tail -40 >&2 || true
    exit 1
  fi
}

r_tests() {
  echo "==> testthat (Rpkg/tests/testthat)"
  Rscript -e 'testthat::test_local("Rpkg", stop_on_failure = TRUE)'
}

vignettes() {
  echo "==> Rendering vignettes (RKD_QUICK=${RKD_QUICK:-0})"
  # One R session for all four (each in its own environment): Python and TensorFlow start once.
  Rscript -e 'for (rmd in Sys.glob("vignettes/*.Rmd")) {
    rmarkdown::render(rmd, quiet = TRUE, envir = new.env())
    message("rendered ", sub("[.]Rmd$", ".html", rmd))
  }'
}

seed_scenario() {
  echo "==> The R tutorial's scenario from plain Rscript (2141-row validation, batch 8, 300 + 40 steps, 12 epochs)"
  local tmp; tmp=$(mktemp -d)
  Rscript Rpkg/inst/scripts/seed_scenario.R "$tmp/seed_history.png" "$tmp/work"
  test -s "$tmp/seed_history.png"
}

python_tests() {  # [paths and pytest options; by default the whole suite]
  echo "==> pytest ${*:-tests}"
  "$ROOT/.venv/bin/python" -m pytest "${@:-tests}" -q -p no:cacheprovider -m "not bench" --durations=25
}

bench_tests() {
  echo "==> pytest -m bench (a one-round miniature of make bench)"
  "$ROOT/.venv/bin/python" -m pytest tests/test_bench.py -q -p no:cacheprovider -m bench
}

# Tests the R stream runs after its own, so that the two streams end at about the same time.
LATE_TESTS="tests/test_workers.py tests/test_teachers.py tests/test_r_parity.py tests/test_storage.py"

timed() {  # a stage, then how long it took; its exit status kept
  local started=$SECONDS rc=0
  "$@" || rc=$?
  echo "==> $1 took $((SECONDS - started)) s"
  return $rc
}

r_stream() {
  (export PYKD_BFLOAT16=0 RKD_QUICK=1; timed r_check && timed vignettes) && timed bench_tests &&
    timed python_tests $LATE_TESTS
}

python_stream() {
  python_tests tests $(for t in $LATE_TESTS; do echo "--ignore=$t"; done)
}

# Runs `r_stream` and `python_stream` side by side, their lines prefixed, and fails if either did.
both_streams() {
  local logs; logs=$(mktemp -d)
  local started=$SECONDS
  : > "$logs/r.log"; : > "$logs/py.log"
  tail -n +1 -F "$logs/r.log" 2>/dev/null > >(sed -u 's/^/[R]  /') &
  TAILS="$!"  # the tails themselves: their sed ends with them
  tail -n +1 -F "$logs/py.log" 2>/dev/null > >(sed -u 's/^/[py] /') &
  TAILS="$TAILS $!"
  trap 'kill $TAILS 2>/dev/null || true' EXIT
  # Each stream stops at its first failing stage (set -e inside), and its exit status is written.
  ( set +e; ( set -e; r_stream ) > "$logs/r.log" 2>&1; echo $? > "$logs/r.rc"
    echo "==> R stream ended at $((SECONDS - started)) s" >> "$logs/r.log" ) &
  local r_pid=$!
  ( set +e; ( set -e; python_stream ) > "$logs/py.log" 2>&1; echo $? > "$logs/py.rc"
    echo "==> Python stream ended at $((SECONDS - started)) s" >> "$logs/py.log" ) &
  local py_pid=$!
  wait "$r_pid" "$py_pid" || true
  sleep 1  # the tails show the last lines
  kill $TAILS 2>/dev/null || true
  local r_rc py_rc; r_rc=$(cat "$logs/r.rc" 2>/dev/null || echo 1); py_rc=$(cat "$logs/py.rc" 2>/dev/null || echo 1)
  echo "==> R stream: exit $r_rc; Python stream: exit $py_rc; $((SECONDS - started)) s in all"
  [ "$r_rc" -eq 0 ] && [ "$py_rc" -eq 0 ]
}

case "$stage" in
  check) r_check ;;
  r) r_tests ;;
  vignettes) vignettes ;;
  python) python_tests ;;
  bench) bench_tests ;;
  seed) seed_scenario ;;
  all) both_streams ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
esac
