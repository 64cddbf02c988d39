#!/usr/bin/env bash
# Install what rkd/pykd need on a fresh Debian machine; safe to run again.
#   scripts/setup.sh python   Python packages from PyPI and pykd (editable) into .venv
#   scripts/setup.sh          also R and R packages from Debian, the test tools, and the R package rkd
#   scripts/setup.sh tensorflow   which TensorFlow build (gpu or cpu) this machine would get
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

DEBIAN_PACKAGES="r-base-core r-base-dev r-cran-reticulate r-cran-testthat r-cran-knitr r-cran-rmarkdown pandoc
  r-cran-ggplot2 r-cran-cli r-cran-roxygen2 r-cran-rcmdcheck r-cran-withr r-cran-rlang r-cran-tibble r-cran-generics r-cran-jpeg
  dataset-fashion-mnist"  # real data for tests and vignettes: /usr/share/datasets/fashion-mnist (30 MB)

install_r() {
  local missing="" pkg
  for pkg in $DEBIAN_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    echo "==> Installing from Debian:$missing"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
}

# The TensorFlow build this machine gets: the CUDA build where an NVIDIA GPU answers
# `nvidia-smi -L`, else the CPU wheel (pyproject.toml's extras "gpu" and "cpu").
tensorflow_extra() {
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then echo gpu; else echo cpu; fi
}

install_python() {
  local extras=$1
  local tf; tf=$(tensorflow_extra)
  if [ ! -x .venv/bin/python ]; then
    echo "==> Creating .venv"
    "${PYTHON:-python3}" -m venv .venv
  fi
  local stamp=".venv/.pykd-installed-$tf-${extras//,/-}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> Installing pykd[$tf,$extras] into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[$tf,$extras]"
    touch "$stamp"
  fi
}

install_rkd() {
  echo "==> Installing the R package rkd"
  R CMD INSTALL --no-test-load Rpkg >/dev/null 2>&1 || R CMD INSTALL --no-test-load Rpkg
}

case "$what" in
  tensorflow) tensorflow_extra; exit 0 ;;  # which build, without installing anything
  python) install_python examples ;;
  # rpy2, a test dependency, builds against R, so R comes first.
  all) install_r; install_python "examples,test"; install_rkd ;;
  *) echo "usage: scripts/setup.sh [python|all|tensorflow]" >&2; exit 2 ;;
esac
echo "==> Set-up done (Python: $(pwd)/.venv/bin/python)"
