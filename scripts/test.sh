#!/usr/bin/env bash
# Every test: R CMD check of rkd (runs its testthat suite), both vignettes
# rendered to HTML, the R tutorial's full-size scenario, then the Python suite (pytest, including the R/Python
# parity test), then the one-round miniature of `make bench` (pytest -m bench). Pass one stage
# (check | r | vignettes | seed | python | bench) to run just it.
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
  echo "==> Rendering vignettes"
  for rmd in vignettes/*.Rmd; do
    Rscript -e "rmarkdown::render('$rmd', quiet = TRUE)"
    echo "rendered ${rmd%.Rmd}.html"
  done
}

seed_scenario() {
  echo "==> The R tutorial's scenario from plain Rscript (2141-row validation, batch 8, 300 + 40 steps, 12 epochs)"
  local tmp; tmp=$(mktemp -d)
  Rscript Rpkg/inst/scripts/seed_scenario.R "$tmp/seed_history.png" "$tmp/work"
  test -s "$tmp/seed_history.png"
}

python_tests() {
  echo "==> pytest"
  "$ROOT/.venv/bin/python" -m pytest tests -q -p no:cacheprovider -m "not bench"
}

bench_tests() {
  echo "==> pytest -m bench (a one-round miniature of make bench, a few minutes)"
  "$ROOT/.venv/bin/python" -m pytest tests -q -p no:cacheprovider -m bench
}

case "$stage" in
  check) r_check ;;
  r) r_tests ;;
  vignettes) vignettes ;;
  python) python_tests ;;
  bench) bench_tests ;;
  seed) seed_scenario ;;
  all) r_check; vignettes; seed_scenario; python_tests; bench_tests ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
esac
