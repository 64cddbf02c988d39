#!/usr/bin/env bash
# Install everything rkd/pykd needs on a fresh Debian machine; safe to run again.
#   R and R packages from Debian's repository, Python packages from PyPI into .venv,
#   pykd (editable) into .venv, and the R package rkd into R's site library.
set -euo pipefail
cd "$(dirname "$0")/.."

R_PACKAGES="r-base-core r-base-dev r-cran-reticulate r-cran-testthat r-cran-knitr r-cran-rmarkdown pandoc
  r-cran-ggplot2 r-cran-cli r-cran-roxygen2 r-cran-rcmdcheck r-cran-withr r-cran-rlang r-cran-tibble"

missing=""
for pkg in $R_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "==> Installing from Debian:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# A GPU machine gets the CUDA build of TensorFlow, any other the CPU wheel.
TF_EXTRA=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then TF_EXTRA=gpu; fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> Creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.pykd-installed-$TF_EXTRA"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> Installing pykd[$TF_EXTRA,test] into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$TF_EXTRA,test,examples]"
  touch "$stamp"
fi

echo "==> Installing the R package rkd"
R CMD INSTALL --no-test-load Rpkg >/dev/null 2>&1 || R CMD INSTALL --no-test-load Rpkg
echo "==> Set-up done (Python: $(pwd)/.venv/bin/python)"
