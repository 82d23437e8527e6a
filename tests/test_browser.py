"""The browser check of the built book (ebmbook.browser) on a hand-made site: each kind of
failure it must catch is put on one page, and a clean page must pass. Runs in headless
Chromium (make env installs it); in CI a missing browser is an error, not a skip."""

import base64
import os

import pytest

from ebmbook import browser

if not browser.available():
    if os.environ.get("CI"):
        pytest.fail("Chromium, chromedriver or selenium is missing in CI: run `make env`",
                    pytrace=False)
    pytest.skip("Chromium is not installed (make env installs it)", allow_module_level=True)

# a 1x1 white PNG and a 400x10 grey one
PNG_1 = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAG7buVgAAAABJRU5ErkJggg==")


def _png(w, h):
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new("L", (w, h), 128).save(buf, format="PNG")
    return buf.getvalue()


def _page(body, head=""):
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("site")
    (d / "dot.png").write_bytes(PNG_1)
    (d / "wide.png").write_bytes(_png(400, 10))
    (d / "ok.js").write_text("document.title = 'ok';")
    pages = {
        "clean.html": _page('<img src="dot.png"><script src="ok.js"></script>'
                            '<a href="wide.png"><img src="wide.png" style="width:100px"></a>'),
        "foreign.html": _page('<p>x</p>',
                              head='<script src="https://cdn.example.org/lib.js"></script>'),
        "error.html": _page("<script>const A = 1; const A = 2;</script>"),
        "broken.html": _page('<img src="missing.png">'),
        "shrunk.html": _page('<img src="wide.png" style="width:100px">'),
        "sub/nested.html": _page('<img src="../dot.png">'),
        # a notebook figure with its caption, and one without
        "captioned.html": _page('<article><div class="cell_output"><figure><img src="dot.png">'
                                '<figcaption>Fig 1. A dot.</figcaption></figure></div>'
                                '<p>price: $5 and $6; code: <code>$x\\alpha$</code></p>'
                                '</article>'),
        "uncaptioned.html": _page('<article><div class="cell_output"><img src="dot.png">'
                                  '</div></article>'),
        # TeX a reader would see as source: a .math element (no MathJax on the page to
        # typeset it) and $...$ with a command in plain text
        "rawmath.html": _page('<article><p><span class="math">\\(\\alpha + 1\\)</span>'
                              '</p><p>the energy $U(x) = \\lVert x \\rVert$ here</p></article>'),
        "stderr.html": _page('<article><div class="output stderr"><pre>Traceback: boom</pre>'
                             '</div></article>'),
        "_static/skipped.html": _page('<img src="nothing.png">'),
    }
    for name, html in pages.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(html)
    rep = browser.check_site(d)
    return {p.page: p for p in rep.pages}, rep


def test_every_page_but_underscored_folders_is_opened(report):
    pages, _ = report
    assert sorted(pages) == ["broken.html", "captioned.html", "clean.html", "error.html",
                             "foreign.html", "rawmath.html", "shrunk.html", "stderr.html",
                             "sub/nested.html", "uncaptioned.html"]


def test_a_clean_page_passes(report):
    pages, _ = report
    for name in ("clean.html", "sub/nested.html", "captioned.html"):
        assert pages[name].failures == [] and pages[name].shrunk_images == [], name


def test_each_failure_is_caught(report):
    pages, rep = report
    assert pages["foreign.html"].foreign_requests == ["https://cdn.example.org/lib.js"]
    assert any("already been declared" in m for m in pages["error.html"].console_errors)
    assert pages["broken.html"].broken_images == ["missing.png"]
    assert pages["shrunk.html"].shrunk_images == [("wide.png", 100, 400)]
    assert pages["shrunk.html"].failures == ["image shown at 100 of 400 px with no larger "
                                             "view: wide.png"]
    assert pages["uncaptioned.html"].uncaptioned == ["dot.png"]
    assert len(pages["rawmath.html"].raw_math) == 2
    assert pages["rawmath.html"].raw_math[0].startswith("\\(\\alpha")
    assert pages["stderr.html"].error_outputs == ["Traceback: boom"]
    for name in ("foreign.html", "error.html", "broken.html", "shrunk.html", "uncaptioned.html",
                 "rawmath.html", "stderr.html"):
        assert pages[name].failures, name
    # broken and foreign pages also log a console error each; the raw-math page has two
    assert len(rep.failures) == 10 and "10 failures" in rep.summary()


def test_a_missing_book_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="ebmbook book"):
        browser.check_site(tmp_path / "nope")


def test_the_book_build_fails_on_a_page_that_calls_a_cdn(tmp_path):
    from ebmbook.book import BookBuildError, check_html
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(_page("<p>fine</p>"))
    check_html(html, "require")
    assert "0 failures" in (tmp_path / "browser_check.txt").read_text()
    (html / "cdn.html").write_text(_page("", head='<script src="https://cdn.example.org/a.js">'
                                                  '</script>'))
    with pytest.raises(BookBuildError, match="browser check found"):
        check_html(html, "require")
    check_html(html, "off")   # no check, no error
    with pytest.raises(ValueError, match="'auto', 'require' or 'off'"):
        check_html(html, "sometimes")
