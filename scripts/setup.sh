#!/usr/bin/env bash
# Install what rkd/pykd need on a fresh Debian machine; safe to run again.
#   scripts/setup.sh python   Python packages from PyPI and pykd (editable) into .venv
#   scripts/setup.sh          also R and R packages from Debian, the test tools, and the R package rkd
#   scripts/setup.sh docs     all that, and what `make docs` needs: pkgdown and Chromium from Debian, the
#                             site's scripts and icons from the npm registry
#   scripts/setup.sh tensorflow   which TensorFlow build (gpu or cpu) this machine would get
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

DEBIAN_PACKAGES="r-base-core r-base-dev r-cran-reticulate r-cran-testthat r-cran-knitr r-cran-rmarkdown pandoc
  r-cran-ggplot2 r-cran-cli r-cran-roxygen2 r-cran-rcmdcheck r-cran-withr r-cran-rlang r-cran-tibble r-cran-generics r-cran-jpeg
  dataset-fashion-mnist"  # real data for tests and vignettes: /usr/share/datasets/fashion-mnist (30 MB)
# `make docs` only: the site's builder and the browser that checks it (and Debian's npm, for the assets
# below, where no npm is installed).
DOCS_DEBIAN_PACKAGES="r-cran-pkgdown chromium"

install_r() {  # [Debian packages; by default DEBIAN_PACKAGES]
  local missing="" pkg
  for pkg in ${1:-$DEBIAN_PACKAGES}; do
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

# Debian's pkgdown (2.0.7) makes pages that load their scripts and icons from CDNs; the site is meant to
# work offline, so the same versions come once from the npm registry into .venv/share/pkgdown-assets, and
# Rpkg/pkgdown/templates/head.html loads them from the site itself (scripts/docs.sh copies them in).
PKGDOWN_ASSETS="@fortawesome/fontawesome-free@5.12.1 headroom.js@0.11.0 clipboard@2.0.6 fuse.js@6.4.6
  autocomplete.js@0.38.0 mark.js@8.11.1"
PKGDOWN_SCRIPTS="headroom.min.js jQuery.headroom.min.js clipboard.min.js fuse.min.js autocomplete.jquery.min.js mark.min.js"

install_docs_assets() {
  local dest=.venv/share/pkgdown-assets
  [ -f "$dest/.complete" ] && return 0
  echo "==> Fetching the documentation site's scripts and icons from the npm registry"
  local tmp spec file; tmp=$(mktemp -d)
  rm -rf "$dest"; mkdir -p "$dest/fontawesome"
  for spec in $PKGDOWN_ASSETS; do
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null && mkdir x && tar xzf ./*.tgz -C x && rm ./*.tgz)
    if [ -d "$tmp/x/package/webfonts" ]; then
      cp -r "$tmp/x/package/css" "$tmp/x/package/webfonts" "$dest/fontawesome/"
    else
      for file in $PKGDOWN_SCRIPTS; do
        if [ -f "$tmp/x/package/dist/$file" ]; then cp "$tmp/x/package/dist/$file" "$dest/"; fi
      done
    fi
    rm -rf "$tmp/x"
  done
  rm -rf "$tmp"
  for file in $PKGDOWN_SCRIPTS fontawesome/css/all.min.css; do
    if [ ! -f "$dest/$file" ]; then echo "npm gave no $file" >&2; exit 1; fi
  done
  touch "$dest/.complete"
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
  docs) install_r "$DEBIAN_PACKAGES $DOCS_DEBIAN_PACKAGES"; command -v npm >/dev/null || install_r npm
    install_python "examples,test"; install_rkd
    install_docs_assets ;;
  *) echo "usage: scripts/setup.sh [python|all|docs|tensorflow]" >&2; exit 2 ;;
esac
echo "==> Set-up done (Python: $(pwd)/.venv/bin/python)"
