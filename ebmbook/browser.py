"""Open every page of the built book in headless Chromium, as a reader would, and report what
goes wrong: requests to any host but the book's own, console errors, broken images, images
shown at under half their width with no larger view, math that MathJax left as TeX source,
stderr or traceback blocks in cell outputs, and notebook figures without a caption.

The book is served from ``127.0.0.1`` by a thread of this process; Chromium is Debian's
``chromium`` with its ``chromedriver``, driven by Selenium, with every other host made
unreachable (a proxy that does not exist), so a page that needs the network shows it as a
failed request rather than a slow one. Request URLs come from Chromium's performance log.

``python -m ebmbook.browser [HTML_DIR]`` checks a built book (default ``_build/html``) and exits
non-zero on a failure; ``--install`` installs Chromium with ``apt-get`` when run as root and it
is missing. ``ebmbook book`` runs the check after building the HTML when Chromium is there.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)
APT_PACKAGES = ("chromium", "chromium-driver")


class BrowserUnavailable(RuntimeError):
    """Chromium, its driver or Selenium is missing (the message says how to install them)."""


def _which(names) -> str | None:
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


def available() -> bool:
    """Whether Chromium, chromedriver and Selenium are all installed."""
    import importlib.util
    if importlib.util.find_spec("selenium") is None:
        return False
    return _which(CHROMIUM) is not None and _which(DRIVER) is not None


def install() -> bool:
    """Install Debian's Chromium and chromedriver with apt-get if missing and running as root.
    Returns whether the browser is available afterwards."""
    if _which(CHROMIUM) and _which(DRIVER):
        return True
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q",
                                                   *APT_PACKAGES]):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"browser: `{' '.join(cmd)}` failed:\n{r.stderr[-2000:]}", file=sys.stderr)
                return False
    else:
        print("browser: Chromium is missing; install it with `sudo apt-get install "
              + " ".join(APT_PACKAGES) + "`", file=sys.stderr)
    return bool(_which(CHROMIUM) and _which(DRIVER))


@dataclass
class PageReport:
    """What one page did."""

    page: str
    foreign_requests: list = field(default_factory=list)   # URLs off the book's host
    console_errors: list = field(default_factory=list)
    broken_images: list = field(default_factory=list)
    shrunk_images: list = field(default_factory=list)      # (src, shown px, natural px)
    raw_math: list = field(default_factory=list)           # math MathJax left as source
    error_outputs: list = field(default_factory=list)      # stderr / traceback blocks
    uncaptioned: list = field(default_factory=list)        # notebook figures with no caption

    @property
    def failures(self) -> list[str]:
        out = [f"request to another host: {u}" for u in self.foreign_requests]
        out += [f"console error: {m}" for m in self.console_errors]
        out += [f"broken image: {s}" for s in self.broken_images]
        out += [f"image shown at {w} of {n} px with no larger view: {s}"
                for s, w, n in self.shrunk_images]
        out += [f"unrendered math: {t}" for t in self.raw_math]
        out += [f"error output: {t}" for t in self.error_outputs]
        out += [f"figure without a caption: {s}" for s in self.uncaptioned]
        return out


@dataclass
class SiteReport:
    pages: list

    @property
    def failures(self) -> list[str]:
        return [f"{p.page}: {f}" for p in self.pages for f in p.failures]

    @property
    def shrunk(self) -> list[str]:
        return [f"{p.page}: {src} shown at {w} of {n} px" for p in self.pages
                for src, w, n in p.shrunk_images]

    def summary(self) -> str:
        fails = self.failures
        lines = [f"browser check: {len(self.pages)} pages, {len(fails)} failures "
                 "(requests off the book's host, console errors, broken images, images shrunk "
                 "to under half their width with no larger view, unrendered math, error "
                 "outputs, figures without a caption)"]
        lines += ["  FAIL " + f for f in fails[:40]]
        if len(fails) > 40:
            lines.append(f"  FAIL ... and {len(fails) - 40} more")
        return "\n".join(lines)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):   # no access log on stderr
        pass


@contextmanager
def serve(directory: str | os.PathLike):
    """Serve ``directory`` on 127.0.0.1 (a free port) for the duration of the block; yields
    the base URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _driver(width: int = 1280):
    if not available():
        raise BrowserUnavailable(
            "the browser check needs Chromium, chromedriver and Selenium: `sudo apt-get install "
            + " ".join(APT_PACKAGES) + "` and `pip install selenium` (make env does both)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = _which(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={width},900",
              # every host but the book's is unreachable: a proxy that is not there
              "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
              "--disable-background-networking", "--disable-component-update",
              "--no-first-run", "--disable-default-apps", "--disable-sync"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(_which(DRIVER)), options=opts)


#: resolves once MathJax has typeset the page (at once if the page has no MathJax)
_MATHJAX_WAIT_JS = """
var done = arguments[arguments.length - 1];
var t = setTimeout(function () { done('timeout'); }, 10000);
function ok(v) { clearTimeout(t); done(v); }
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(function () { ok('typeset'); }, function () { ok('failed'); });
} else if (document.querySelector('.math')) {
  // MathJax is loaded with defer: wait for it to appear, then for its promise
  var tries = 0;
  var iv = setInterval(function () {
    tries += 1;
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      clearInterval(iv);
      MathJax.startup.promise.then(function () { ok('typeset'); }, function () { ok('failed'); });
    } else if (tries > 80) { clearInterval(iv); ok('no mathjax'); }
  }, 100);
} else { ok('no math'); }
"""

#: what a reader should never see: math left as TeX source (a .math element MathJax did not
#: typeset, or $...$ / \\( in the text of the article outside code), stderr or traceback
#: blocks in cell outputs, and notebook figures (images in a cell's output) without a caption
_CONTENT_JS = r"""
var article = document.querySelector('article') || document.body;
var raw = [];
article.querySelectorAll('.math').forEach(function (m) {
  if (!m.querySelector('mjx-container')) { raw.push(m.textContent.trim().slice(0, 80)); }
});
var walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
var texlike = /\$[^$\s][^$]*\\[A-Za-z]+[^$]*\$|\\\(|\\\[/;
while (walker.nextNode()) {
  var n = walker.currentNode;
  if (n.parentElement.closest('pre, code, script, style, mjx-container, .math, .highlight, .cell_input')) {
    continue;
  }
  var m = n.textContent.match(texlike);
  if (m) { raw.push(n.textContent.trim().slice(0, 80)); }
}
var errs = [];
article.querySelectorAll('.output.stderr, .output.traceback, .output.error').forEach(function (e) {
  errs.push(e.textContent.trim().slice(0, 120));
});
var unc = [];
article.querySelectorAll('.cell_output img').forEach(function (im) {
  var f = im.closest('figure');
  if (!(f && f.querySelector('figcaption'))) { unc.push(im.getAttribute('src') || ''); }
});
return {raw: raw, errors: errs, uncaptioned: unc};
"""

_IMAGES_JS = """
return Array.from(document.images).map(function (im) {
  var a = im.closest('a');
  return {src: im.getAttribute('src') || '', complete: im.complete, natural: im.naturalWidth,
          shown: im.getBoundingClientRect().width,
          linked: !!(a && a.getAttribute('href')),
          hidden: im.offsetParent === null};
});
"""


def check_page(driver, url: str, page: str) -> PageReport:
    """Load one page and collect its report."""
    base = urlsplit(url)
    driver.get_log("performance")   # drop what earlier pages left
    driver.get_log("browser")
    driver.get(url)
    rep = PageReport(page=page)
    for entry in driver.get_log("performance"):
        try:
            msg = json.loads(entry["message"])["message"]
        except (KeyError, ValueError):
            continue
        if msg.get("method") != "Network.requestWillBeSent":
            continue
        u = msg["params"]["request"]["url"]
        s = urlsplit(u)
        if s.scheme in ("data", "blob", "about", "chrome-extension"):
            continue
        if s.hostname not in (base.hostname,) or s.port != base.port:
            rep.foreign_requests.append(u)
    for entry in driver.get_log("browser"):
        # the browser's own probe for /favicon.ico is not the page's request
        if entry.get("level") == "SEVERE" and "/favicon.ico" not in entry.get("message", ""):
            rep.console_errors.append(entry.get("message", "")[:300])
    for im in driver.execute_script(_IMAGES_JS):
        if im["hidden"]:
            continue
        if not im["complete"] or im["natural"] == 0:
            rep.broken_images.append(im["src"])
        elif im["shown"] < 0.5 * im["natural"] and not im["linked"]:
            rep.shrunk_images.append((im["src"], int(im["shown"]), int(im["natural"])))
    driver.set_script_timeout(15)
    driver.execute_async_script(_MATHJAX_WAIT_JS)
    found = driver.execute_script(_CONTENT_JS)
    rep.raw_math, rep.error_outputs = found["raw"], found["errors"]
    rep.uncaptioned = found["uncaptioned"]
    rep.foreign_requests = sorted(set(rep.foreign_requests))
    return rep


def check_site(html_dir: str | os.PathLike, pages: list[str] | None = None,
               width: int = 1280) -> SiteReport:
    """Open every ``.html`` page under ``html_dir`` (or the given relative ``pages``) served
    from 127.0.0.1 in headless Chromium at ``width`` px and report what each did."""
    root = Path(html_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no built book at {root}: run `ebmbook book` first")
    if pages is None:
        pages = sorted(str(p.relative_to(root)) for p in root.rglob("*.html")
                       if not any(part.startswith("_") for part in p.relative_to(root).parts))
    reports = []
    with serve(root) as base:
        driver = _driver(width)
        try:
            for page in pages:
                reports.append(check_page(driver, base + page, page))
        finally:
            driver.quit()
    return SiteReport(pages=reports)


def screenshots(html_dir: str | os.PathLike, targets: list[str], out_dir: str | os.PathLike,
                width: int = 1280, prefix: str = "") -> list[Path]:
    """Save what a reader sees: for each target ``page.html`` (the whole page) or
    ``page.html#id`` (the element with that id, e.g. a figure ``fig-3-9``), a PNG in
    ``out_dir`` named ``<prefix><page>[_<id>].png``. Returns the files written."""
    from selenium.webdriver.common.by import By
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with serve(html_dir) as base:
        driver = _driver(width)
        try:
            for target in targets:
                page, _, elem = target.partition("#")
                driver.set_window_size(width, 900)
                driver.get(base + page)
                driver.set_script_timeout(15)
                driver.execute_async_script(_MATHJAX_WAIT_JS)
                name = prefix + page.replace("/", "_").removesuffix(".html") + \
                    (f"_{elem}" if elem else "") + ".png"
                if elem:
                    found = driver.find_elements(By.ID, elem)
                    if not found:
                        raise ValueError(f"{page} has no element with id {elem!r}")
                    driver.execute_script("arguments[0].scrollIntoView();", found[0])
                    found[0].screenshot(str(out / name))
                else:
                    height = driver.execute_script("return document.body.scrollHeight")
                    driver.set_window_size(width, min(int(height), 8000))
                    driver.save_screenshot(str(out / name))
                written.append(out / name)
        finally:
            driver.quit()
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ebmbook.browser", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("html_dir", nargs="?", default="_build/html")
    ap.add_argument("--install", action="store_true",
                    help="install Chromium with apt-get (as root) if missing, then exit")
    ap.add_argument("--screenshot", nargs="+", metavar="PAGE[#ID]",
                    help="save screenshots of these pages (or of the element with that id, e.g. "
                         "notebooks/ch5_sk_spin_glass.html#fig-5-1) instead of checking")
    ap.add_argument("--out", default=None,
                    help="folder for --screenshot (default <html_dir>/../screenshots)")
    ap.add_argument("--prefix", default="", help="file-name prefix for --screenshot")
    args = ap.parse_args(argv)
    if args.screenshot:
        out = args.out or Path(args.html_dir).parent / "screenshots"
        for p in screenshots(args.html_dir, args.screenshot, out, prefix=args.prefix):
            print(p)
        return 0
    if args.install:
        ok = install()
        # as root a failed install is an error; otherwise the hint printed is enough
        return 0 if ok or not (hasattr(os, "geteuid") and os.geteuid() == 0) else 1
    rep = check_site(args.html_dir)
    print(rep.summary())
    return 1 if rep.failures else 0


if __name__ == "__main__":
    sys.exit(main())
