"""Opens pages of the built documentation site in headless Chromium and fails on a blank or broken one.

    python scripts/check_site.py build/site [--shots DIR]

For each page below, after its load event: no JavaScript error (an uncaught exception or console.error),
no resource that failed to load, no request that leaves the machine (the site works offline), every image
drawn, every link to a local file pointing at one that exists, the DOM holding the page's expected text,
and a screenshot that is not nearly uniform (blank). Screenshots (PNG) and DOM dumps (HTML) go to DIR.
Every reference page is also read for an example that stopped with an error (pkgdown shows it and goes on).
Chromium is driven through its DevTools protocol over a pipe (--remote-debugging-pipe): stdlib only.
"""

import argparse
import base64
import html
import io
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image

# page -> text its DOM must hold (case-insensitive) besides its links, images and screenshot
PAGES = {
    "index.html": ["knowledge distillation", "Reference", "Articles", "Python API", "make docs"],
    "docs/architecture.html": ["where each kind of change goes"],
    "reference/index.html": ["distill", "rkd_predict", "rkd_example_models", "install_rkd", "one_hot_labels"],
    "reference/distill.html": ["Distil", "Arguments", "Examples", "val_accuracy"],
    "reference/rkd_history.html": ["as.data.frame", "Examples", "epoch"],
    "articles/cassava-workflow.html": ["Cassava", "one_hot_labels", "teacher"],
    "python/pykd.html": ["distill", "train_scratch", "evaluate", "noisy_student", "DataError"],
    "python/pykd/data/datasets.html": ["fashion_mnist", "write_digits"],
}
# JavaScript run on each page once loaded: what the checks read from the DOM
PROBE = """JSON.stringify({
  text: document.body ? document.body.innerText : "",
  html: document.documentElement.outerHTML,
  links: Array.from(document.links, a => a.href),
  broken_images: Array.from(document.images).filter(i => i.getAttribute("src") !== "")  // pkgdown's empty logo
    .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
})"""


class Browser:
    """Headless Chromium, spoken to in DevTools protocol messages (JSON, NUL-terminated) over two pipes."""

    def __init__(self, chromium="chromium"):
        self.profile = tempfile.mkdtemp(prefix="site-check-")
        to_chrome, self._commands = os.pipe()
        self._replies, from_chrome = os.pipe()

        def as_fds_3_and_4():  # Chromium reads commands on fd 3 and writes replies and events on fd 4
            a, b = os.dup(to_chrome), os.dup(from_chrome)
            os.dup2(a, 3)
            os.dup2(b, 4)

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                 "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--hide-scrollbars", "--window-size=1280,900", f"--user-data-dir={self.profile}"]
        self.proc = subprocess.Popen([chromium, *flags], preexec_fn=as_fds_3_and_4, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer, self._next_id, self.events, self.session = b"", 0, [], None

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                return None
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe (did it start?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, timeout=60, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while (reply := self._read_message(deadline)) is not None:
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)
        raise TimeoutError(f"Chromium did not answer {method} in {timeout} s")

    def wait_for(self, event, timeout):
        """Collects events until `event` arrives (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while (message := self._read_message(deadline)) is not None:
            self.events.append(message)
            if message.get("method") == event:
                return True
        return False

    def open_tab(self):
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self._commands)
        os.close(self._replies)


def load(browser, url):
    """The page's probe results, screenshot (PNG bytes) and the events its load produced."""
    browser.events = []
    browser.send("Page.navigate", url=url)
    if not browser.wait_for("Page.loadEventFired", timeout=60):
        raise TimeoutError(f"{url} did not finish loading in 60 s")
    browser.wait_for("never", timeout=1.0)  # scripts run on DOM ready; late errors show up here
    probe = browser.send("Runtime.evaluate", expression=PROBE, returnByValue=True)["result"]["value"]
    shot = base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"])
    return json.loads(probe), shot, browser.events


def event_problems(events):
    """JavaScript errors, failed loads and requests that leave the machine, as sentences."""
    problems, urls = [], {}
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if urlparse(url).scheme not in ("file", "data", "blob", "about"):
                problems.append(f"a request leaves the machine: {url}")
        elif method == "Network.loadingFailed":
            problems.append(f"failed to load {urls.get(params['requestId'], '?')}: {params.get('errorText')}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            problems.append(f"JavaScript error: {details.get('exception', {}).get('description') or details['text']}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            problems.append("console error: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            problems.append(f"browser error: {params['entry']['text']} {params['entry'].get('url', '')}".strip())
    return problems


def page_problems(probe, shot, expected):
    problems = [f"the page lacks the text {word!r}" for word in expected if word.lower() not in probe["text"].lower()]
    problems += [f"an image is not drawn: {src}" for src in probe["broken_images"]]
    for href in probe["links"]:
        url = urlparse(href)
        if url.scheme == "file" and not Path(unquote(url.path)).exists():
            problems.append(f"a link points at a missing file: {unquote(url.path)}")
    gray = Image.open(io.BytesIO(shot)).convert("L")
    histogram = gray.histogram()
    background = max(histogram)
    drawn = 1 - background / sum(histogram)  # the share of pixels not of the commonest shade
    if drawn < 0.01 or sum(1 for n in histogram if n) < 8:
        problems.append(f"the screenshot is nearly uniform ({drawn:.1%} of pixels differ from the background)")
    return problems


def example_errors(site):
    """The R errors that pkgdown wrote into reference pages' example output, one sentence each."""
    problems = []
    for page in sorted((site / "reference").glob("*.html")):
        for line in page.read_text().splitlines():
            if 'class="r-err' in line:  # downlit's mark of an error in the output
                error = html.unescape(re.sub(r"<[^>]+>", "", line)).strip()
                problems.append(f"reference/{page.name}: an example failed: {error}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--shots", type=Path, default=None, help="where screenshots and DOM dumps go")
    args = parser.parse_args()
    site = args.site.resolve()
    shots = args.shots or site.parent / "site-check"
    shots.mkdir(parents=True, exist_ok=True)
    browser = Browser()
    failed = 0
    try:
        browser.open_tab()
        for page, expected in PAGES.items():
            path = site / page
            if not path.exists():
                print(f"FAIL {page}: not built")
                failed += 1
                continue
            probe, shot, events = load(browser, path.as_uri())
            stem = page.replace("/", "_").removesuffix(".html")
            (shots / f"{stem}.png").write_bytes(shot)
            (shots / f"{stem}.html").write_text(probe["html"])
            problems = event_problems(events) + page_problems(probe, shot, expected)
            failed += bool(problems)
            print(f"{'FAIL' if problems else 'ok  '} {page}" + "".join(f"\n       {p}" for p in problems))
    finally:
        browser.close()
    for problem in example_errors(site):
        print(f"FAIL {problem}")
        failed += 1
    print(f"{len(PAGES) + 1 - min(failed, 1)} checks, {failed} problems (screenshots and DOM dumps in {shots})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
