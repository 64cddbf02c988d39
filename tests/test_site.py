"""The documentation site's inputs (`make docs`; building it takes minutes, so the suite does not):
the make target, a reference group for every help topic, a runnable example on every exported
function's help page, and a browser check that can fail."""

import importlib.util
import io
import re
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "Rpkg" / "man"


def load_check_site():
    spec = importlib.util.spec_from_file_location("check_site", ROOT / "scripts" / "check_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def help_topics(internal=False):
    """{topic name: Rd text} of the help pages, those marked @keywords internal only if `internal`."""
    pages = {}
    for rd in sorted(MAN.glob("*.Rd")):
        text = rd.read_text()
        if internal or "\\keyword{internal}" not in text:
            pages[re.search(r"\\name\{(.+?)\}", text).group(1)] = text
    return pages


def test_make_docs_builds_then_checks_the_site():
    plan = subprocess.run(["make", "-n", "docs"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "scripts/setup.sh docs" in plan and "scripts/docs.sh" in plan
    assert "scripts/check_site.py" in (ROOT / "scripts" / "docs.sh").read_text()


def aliases(rd_text):
    return set(re.findall(r"\\(?:name|alias)\{(.+?)\}", rd_text))


def test_the_reference_index_groups_every_help_topic():
    """As pkgdown matches them: a topic is listed by its name or one of its aliases."""
    yml = (ROOT / "Rpkg" / "_pkgdown.yml").read_text()
    reference = re.search(r"^reference:\n(.*?)(?=^\w+:|\Z)", yml, re.S | re.M).group(1)
    listed = set(re.findall(r"^  - (\S+)$", reference, re.M))
    unlisted = sorted(name for name, text in help_topics().items() if not aliases(text) & listed)
    assert not unlisted, f"add these help topics to a group in Rpkg/_pkgdown.yml: {unlisted}"
    unknown = listed - set().union(*map(aliases, help_topics(internal=True).values()))
    assert not unknown, f"Rpkg/_pkgdown.yml lists topics that do not exist: {sorted(unknown)}"


def test_every_exported_function_has_an_example_that_runs():
    exports = set(re.findall(r"^export\((.+)\)$", (ROOT / "Rpkg" / "NAMESPACE").read_text(), re.M))
    documented = {}
    for name, text in help_topics().items():
        for alias in re.findall(r"\\alias\{(.+?)\}", text):
            documented[alias] = (name, text)
    without = sorted(f for f in exports if f in documented and "\\examples{" not in documented[f][1])
    never_run = sorted({documented[f][0] for f in exports if f in documented and "\\dontrun" in documented[f][1]})
    assert not without, f"help pages without examples: {without}"
    assert not never_run, f"examples in \\dontrun (use \\donttest for slow ones): {never_run}"


def png(draw_text):
    image = Image.new("RGB", (400, 300), "white")
    if draw_text:
        pen = ImageDraw.Draw(image)
        for y in range(20, 280, 18):
            pen.text((10, y), "rkd: knowledge distillation " * 2, fill=(20, 20, 20))
        pen.rectangle((0, 0, 400, 14), fill=(40, 60, 120))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_the_browser_check_fails_on_a_blank_or_broken_page():
    check = load_check_site()
    probe = {"text": "rkd: knowledge distillation", "links": [], "broken_images": []}
    assert check.page_problems(probe, png(draw_text=True), ["knowledge distillation"]) == []
    blank = check.page_problems({**probe, "text": ""}, png(draw_text=False), ["knowledge distillation"])
    assert any("lacks the text" in p for p in blank) and any("nearly uniform" in p for p in blank)
    missing = {**probe, "links": [(ROOT / "no-such-page.html").as_uri()], "broken_images": ["file:///x.png"]}
    assert len(check.page_problems(missing, png(draw_text=True), [])) == 2
    events = [
        {"method": "Network.requestWillBeSent", "params": {"requestId": "1", "request": {"url": "https://cdn.example/x.js"}}},
        {"method": "Network.requestWillBeSent", "params": {"requestId": "2", "request": {"url": "file:///site/vendor/a.js"}}},
        {"method": "Network.loadingFailed", "params": {"requestId": "2", "errorText": "net::ERR_FILE_NOT_FOUND"}},
        {"method": "Runtime.exceptionThrown", "params": {"exceptionDetails": {"text": "Uncaught",
                                                                              "exception": {"description": "ReferenceError: Toc is not defined"}}}},
    ]
    problems = check.event_problems(events)
    assert any("leaves the machine: https://cdn.example/x.js" in p for p in problems)
    assert any("failed to load file:///site/vendor/a.js" in p for p in problems)
    assert any("Toc is not defined" in p for p in problems)


def test_the_check_reads_example_errors_off_reference_pages(tmp_path):
    check = load_check_site()
    (tmp_path / "reference").mkdir()
    ok = '<span class="r-in"><span>x</span></span>\n<span class="r-out co"><span class="r-pr">#&gt;</span> [1] 1</span>\n'
    (tmp_path / "reference" / "fine.html").write_text(ok)
    assert check.example_errors(tmp_path) == []
    failed = ('<span class="r-err co"><span class="r-pr">#&gt;</span> <span class="error">Error in rkd_predict(x):</span>'
              " the file &#39;m.keras&#39; does not exist</span>\n")
    (tmp_path / "reference" / "rkd_predict.html").write_text(ok + failed)
    assert check.example_errors(tmp_path) == [
        "reference/rkd_predict.html: an example failed: #> Error in rkd_predict(x): the file 'm.keras' does not exist"]
