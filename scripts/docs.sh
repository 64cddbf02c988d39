#!/usr/bin/env bash
# `make docs`: the documentation site in build/site (entry page build/site/index.html), then checked in a
# real browser. scripts/setup.sh docs installs what it needs.
#   R, with pkgdown: the home page from README.md, a reference page per help topic (grouped by
#     Rpkg/_pkgdown.yml), their examples run (\donttest ones included), and vignettes/*.Rmd as articles,
#     rendered with RKD_QUICK=1 (the same code on a fraction of the training budget; RKD_QUICK=0 for full).
#   Python, with pdoc: build/site/python, pykd's public names (pykd.__all__ and the subpackages users
#     import), linked from the site's navbar and home page.
#   Check: scripts/check_site.py opens pages in headless Chromium and fails on a blank or broken one.
# The reference, the articles and the Python reference are built side by side (one process each).
# Nothing is written into Rpkg/ or vignettes/: pkgdown reads a copy put together in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SITE=$ROOT/build/site
PY=$ROOT/.venv/bin/python
ASSETS=$ROOT/.venv/share/pkgdown-assets
export RETICULATE_PYTHON=${RETICULATE_PYTHON:-$PY}
export TF_CPP_MIN_LOG_LEVEL=2 PYKD_BFLOAT16=${PYKD_BFLOAT16:-0} RKD_QUICK=${RKD_QUICK:-1}

# The Python reference: pykd, whose __all__ holds every entry point (pdoc follows it, and so adds
# pykd.models), and the modules that __all__ names under short names (pykd.datasets, .sources, .workers).
PY_MODULES="pykd pykd.data.datasets pykd.data.sources pykd.run.workers"

started=$SECONDS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

stage_input() {  # the package as pkgdown reads it: Rpkg, the vignettes, README.md as the home page
  cp -r Rpkg "$tmp/rkd"
  rm -rf "$tmp/rkd/tests"  # not read by pkgdown
  # The help pages as the roxygen comments in Rpkg/R say now (make test's R CMD check does the same in Rpkg)
  Rscript -e 'roxygen2::roxygenise(commandArgs(TRUE)[1])' "$tmp/rkd" >/dev/null
  mkdir -p "$tmp/rkd/vignettes" "$tmp/rkd/pkgdown/assets/vendor" "$tmp/rkd/man/figures" "$tmp/lib"
  cp vignettes/*.Rmd "$tmp/rkd/vignettes/"
  # The README's links into the site (build/site/...) are relative to the site itself on its home page, and
  # its figures are where pkgdown takes images from (man/figures).
  cp docs/*.png "$tmp/rkd/man/figures/"
  sed -e 's#](build/site/#](#g' -e 's#](docs/\([^)]*\.png\))#](man/figures/\1)#g' README.md > "$tmp/rkd/index.md"
  cp -r "$ASSETS/." "$tmp/rkd/pkgdown/assets/vendor/"
  rm -f "$tmp/rkd/pkgdown/assets/vendor/.complete"
  R CMD INSTALL --no-test-load -l "$tmp/lib" "$tmp/rkd" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
}

# One step of pkgdown's build_site() on the staged package, with the staged rkd first on the library path.
# pkgdown.internet = FALSE: no look-up of the package on CRAN (the build is offline).
pkgdown_step() {
  R_LIBS="$tmp/lib" Rscript -e 'args <- commandArgs(TRUE)
    options(pkgdown.internet = FALSE)
    pkg <- pkgdown::as_pkgdown(args[1], override = list(destination = args[2]))
    switch(args[3],
      start = { pkgdown::init_site(pkg); pkgdown::build_home(pkg, preview = FALSE) },
      reference = pkgdown::build_reference(pkg, examples = TRUE, run_dont_run = FALSE, preview = FALSE,
                                           devel = FALSE),
      articles = pkgdown::build_articles(pkg, preview = FALSE),
      finish = { pkgdown:::build_sitemap(pkg); pkgdown::build_search(pkg) })
    invisible()' "$tmp/rkd" "$SITE" "$1"
}

# A help topic that Rpkg/_pkgdown.yml does not list yet (pkgdown would stop) gets a page under "Not
# grouped yet", with a warning; tests/test_site.py fails on it, to have it grouped.
group_unlisted_topics() {
  Rscript -e 'yml <- file.path(commandArgs(TRUE)[1], "_pkgdown.yml")
    meta <- yaml::read_yaml(yml)
    topics <- pkgdown::as_pkgdown(dirname(yml))$topics
    listed <- unlist(lapply(meta$reference, `[[`, "contents"))
    named <- vapply(seq_len(nrow(topics)), function(i) any(c(topics$name[i], topics$alias[[i]]) %in% listed), TRUE)
    missing <- topics$name[!topics$internal & !named]
    if (length(missing) > 0) {
      warning("Rpkg/_pkgdown.yml does not list these help topics: ", toString(missing), call. = FALSE)
      meta$reference <- c(meta$reference, list(list(title = "Not grouped yet", contents = missing)))
      yaml::write_yaml(meta, yml)
    }' "$tmp/rkd"
}

build_python_reference() {
  # shellcheck disable=SC2086
  "$PY" -m pdoc --docformat markdown --no-show-source --footer-text "pykd, the Python side of rkd" \
    -o "$SITE/python" $PY_MODULES
}

side_by_side() {  # the named functions as background jobs; each one's output (its gist) shown when it ends
  local name pids=() failed=0 i=0
  for name in "$@"; do
    (s=$SECONDS; "$name" >"$tmp/$name.log" 2>&1; rc=$?; echo "took $((SECONDS - s)) s" >>"$tmp/$name.log"; exit $rc) &
    pids+=("$!")
  done
  for name in "$@"; do
    if wait "${pids[$i]}"; then echo "==> $name:"; else echo "==> $name FAILED:"; failed=1; fi
    grep -v "^Copying\|^Reading\|^Writing" "$tmp/$name.log" | tail -n 40 | sed 's/^/    /' || true
    i=$((i + 1))
  done
  return $failed
}
reference() { pkgdown_step reference; }
articles() { pkgdown_step articles; }

if [ ! -d "$ASSETS" ] || ! command -v chromium >/dev/null || ! Rscript -e 'library(pkgdown)' >/dev/null 2>&1; then
  echo "make docs needs its tools: run scripts/setup.sh docs (make docs does)" >&2
  exit 1
fi
rm -rf "$SITE"
echo "==> Staging the package for pkgdown (help pages from Rpkg/R, vignettes, README.md)"
stage_input
group_unlisted_topics
# The home page's figure where pkgdown looks for it while it builds the home page (it copies man/figures
# later, with the reference); pkgdown.yml marks the folder as pkgdown's own (init_site rewrites it).
mkdir -p "$SITE/reference/figures"
cp docs/*.png "$SITE/reference/figures/"
touch "$SITE/pkgdown.yml"
echo "==> pkgdown: home page"
pkgdown_step start >"$tmp/start.log" 2>&1 || { cat "$tmp/start.log"; exit 1; }
echo "==> Side by side: reference (running the examples), articles (RKD_QUICK=$RKD_QUICK), Python reference (pdoc)"
side_by_side reference articles build_python_reference
pkgdown_step finish >"$tmp/finish.log" 2>&1 || { cat "$tmp/finish.log"; exit 1; }
# What the home page links to in the repository: the architecture notes, as a page of their own.
mkdir -p "$SITE/docs"
pandoc --standalone --metadata pagetitle="rkd / pykd architecture" docs/architecture.md -o "$SITE/docs/architecture.html"
echo "==> Site built in $((SECONDS - started)) s; checking it in headless Chromium"
"$PY" scripts/check_site.py "$SITE" --shots "$ROOT/build/site-check"
echo "==> Site built and checked in $((SECONDS - started)) s: $SITE/index.html"
