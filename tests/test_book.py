"""The website: the book builds offline without a warning, and every page works in a browser.

- The book is built from scratch into a temporary folder with the same command as
  `make book` (`jupyter-book build . -W -n --keep-going`); any warning fails it.
- Every notebook in chapters/ is in _toc.yml and vice versa, and its first code cell
  installs cnnlib from the repository named in _config.yml (that is what Colab runs).
- _config.yml names the course's repository and branch, written out in this file.
- Every page is served on 127.0.0.1 and loaded in real headless Chromium: it must render,
  its math must be typeset by the vendored MathJax (no CDN), it must load nothing from
  another host and no request may fail, every notebook page must carry a Colab link to
  its own notebook in the course's repository, and show every figure its notebook stores.
- The animations of the convolution arithmetic chapter are embedded in its page with fixed
  ids, and their buttons change the frame shown in the browser, offline.
"""
from __future__ import annotations

import base64
import copy
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
COLAB = "https://colab.research.google.com"
# _config.yml is the one place that names the course's repository and the git ref its pages
# use (tools/set_repository.py changes it for a fork or a release, and rewrites the setup
# cells and the README to match). The tests below read it once and check that everything
# built from it agrees: the setup cells, and the Colab links that Jupyter Book constructs.
_REPO = re.fullmatch(r"https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)", REPO_URL)
COURSE_ORG, COURSE_REPO = _REPO.groups() if _REPO else ("?", "?")
COURSE_BRANCH = str(CONFIG["repository"]["branch"])
LENET_COLAB_HREF = (f"https://colab.research.google.com/github/{COURSE_ORG}/{COURSE_REPO}"
                    f"/blob/{COURSE_BRANCH}/chapters/lenet.ipynb")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MATHJAX_SCRIPT = "/mathjax/tex-mml-chtml.js"  # where html_extra_path publishes _vendor/mathjax
MATHJAX_FONTS = "/mathjax/output/chtml/fonts/woff-v2/"
LENET = "chapters/lenet"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # colour codes in logs and stream outputs


def _toc_entries(node) -> list[str]:
    """Every `file:` of the table of contents, root first, in reading order."""
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(str(node[key]))
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                found.extend(_toc_entries(child))
    return found


TOC_ENTRIES = _toc_entries(TOC)
NOTEBOOKS = sorted(p.relative_to(ROOT).with_suffix("").as_posix()
                   for p in (ROOT / "chapters").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
# The pages checked in the browser: those of the table of contents, and Sphinx's own two.
# Sphinx's own pages: search, the general index and (autodoc's API reference documents
# modules) the module index.
SPHINX_PAGES = {"search.html": "Search", "genindex.html": "Index",
                "py-modindex.html": "Python Module Index"}
PAGES = [f"{entry}.html" for entry in TOC_ENTRIES] + list(SPHINX_PAGES)


def _source(entry: str) -> Path:
    """The .md or .ipynb file behind a table-of-contents entry."""
    candidates = [ROOT / f"{entry}{ext}" for ext in (".md", ".ipynb")]
    existing = [p for p in candidates if p.is_file()]
    assert len(existing) == 1, f"_toc.yml entry {entry!r} must match exactly one of " \
                               f"{[p.name for p in candidates]}, found {existing}"
    return existing[0]


def _title_of(entry: str) -> str:
    """The first level-1 heading of a page's source, as plain text."""
    path = _source(entry)
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    match = re.search(r"^# +(.+?)\s*$", text, flags=re.MULTILINE)
    assert match, f"{path.relative_to(ROOT)} has no level-1 heading"
    return re.sub(r"[`*_]", "", match.group(1))


# --- the sources: table of contents and notebooks --------------------------------------

def test_toc_lists_exactly_the_notebooks():
    assert NOTEBOOKS, "chapters/ holds no notebook"
    for entry in TOC_ENTRIES:
        _source(entry)  # each entry exists
    listed = {e for e in TOC_ENTRIES if e.startswith("chapters/")}
    assert sorted(set(NOTEBOOKS) - listed) == [], "notebooks missing from _toc.yml"
    not_notebooks = sorted(e for e in listed if not (ROOT / f"{e}.ipynb").is_file())
    assert not_notebooks == [], "_toc.yml lists chapters that are not notebooks in chapters/"
    assert len(TOC_ENTRIES) == len(set(TOC_ENTRIES)), "_toc.yml lists a page twice"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_first_code_cell_installs_cnnlib_from_the_repository(notebook):
    nb = nbformat.read(ROOT / f"{notebook}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{notebook}.ipynb has no code cell"
    source = code[0].source
    urls = re.findall(r"git\+([^\s\"'#]+)", source)
    assert urls, f"the first code cell of {notebook}.ipynb installs nothing with `pip install git+URL`"
    # On main the cell installs the newest cnnlib; on any other ref (a release tag) the
    # cnnlib of that same ref, so that a pinned notebook runs the code it was written for.
    expected = REPO_URL if COURSE_BRANCH == "main" else f"{REPO_URL}@{COURSE_BRANCH}"
    for url in urls:
        assert url == expected, (f"{notebook}.ipynb installs cnnlib from {url}, not from {expected}: "
                                 "run tools/set_repository.py")
    assert re.search(r"[%!]\s*pip install", source), "the install must be a `%pip install` line"
    assert re.search(r"^\s*import cnnlib\b", source, flags=re.MULTILINE), \
        "the first code cell must import cnnlib (and install it only when that fails)"


def test_config_names_the_course_repository_and_colab():
    assert _REPO, f"repository.url must be https://github.com/OWNER/NAME, got {REPO_URL!r}"
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", COURSE_BRANCH), COURSE_BRANCH
    # "" keeps the notebook paths relative to the repository root ("." would add "/./").
    assert CONFIG["repository"]["path_to_book"] == ""
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


def _stored_pngs(notebook: str) -> int:
    """Images the notebook stores in outputs that the book shows (not removed by a tag)."""
    nb = nbformat.read(ROOT / f"{notebook}.ipynb", as_version=4)
    return sum("image/png" in out.get("data", {})
               for cell in nb.cells if cell.cell_type == "code"
               and not set(cell.metadata.get("tags", [])) & {"remove-cell", "remove-output"}
               for out in cell.get("outputs", []))


# --- the build ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def book_html(tmp_path_factory) -> Path:
    """Build the book exactly like `make book`, into a fresh folder; return its html folder."""
    if not (ROOT / "_vendor" / "mathjax" / "tex-mml-chtml.js").is_file():
        pytest.fail("MathJax is not vendored in _vendor/mathjax: run `make mathjax`")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    if not jupyter_book.is_file():
        pytest.fail(f"{jupyter_book} is missing: run `make venv`")
    out = tmp_path_factory.mktemp("book")
    cmd = [str(jupyter_book), "build", str(ROOT), "--path-output", str(out),
           "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    log = _ANSI.sub("", proc.stdout + proc.stderr)
    if proc.returncode != 0:
        problems = "\n".join(line for line in log.splitlines() if "WARNING" in line or "ERROR" in line)
        pytest.fail(f"`{' '.join(cmd)}` exited with {proc.returncode}.\n"
                    f"Warnings and errors:\n{problems or '(none found)'}\n\nEnd of the log:\n{log[-3000:]}")
    html = out / "_build" / "html"
    assert (html / "intro.html").is_file(), f"the build wrote no intro.html:\n{log[-3000:]}"
    return html


@pytest.mark.book
def test_book_builds_and_publishes_mathjax(book_html):
    assert (book_html / MATHJAX_SCRIPT.lstrip("/")).is_file()
    assert (book_html / MATHJAX_FONTS.lstrip("/") / "MathJax_Main-Regular.woff").is_file()
    # index.html is Jupyter Book's redirect to the root page.
    assert f"url={TOC['root']}.html" in (book_html / "index.html").read_text(encoding="utf-8")


@pytest.mark.book
def test_every_built_page_is_checked_in_the_browser(book_html):
    built = {p.relative_to(book_html).as_posix() for p in book_html.rglob("*.html")
             if p.relative_to(book_html).parts[0] not in ("_static", "_sources")}
    assert sorted(built - {"index.html"}) == sorted(PAGES)


# --- the browser -------------------------------------------------------------------------

class _Site:
    """The built html on http://127.0.0.1:<free port>, recording every request's status."""

    def __init__(self, root: Path):
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                site.requests.append((self.path, int(code) if str(code).isdigit() else code))

            def do_GET(self):
                # PAGE.html?probe-images: the page with _PROBE_IMAGES added, which records
                # in the DOM what only scripts can see (whether each image decoded).
                path, _, query = self.path.partition("?")
                if query != "probe-images" or not path.endswith(".html"):
                    return super().do_GET()
                file = Path(self.translate_path(path))
                if not file.is_file():
                    return self.send_error(404)
                body = file.read_bytes().replace(b"</body>", _PROBE_IMAGES + b"</body>", 1)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.requests: list[tuple[str, int]] = []
        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# After the page's load event (all images loaded or failed), copy each image's decoded
# width onto it as an attribute, which --dump-dom then shows.
_PROBE_IMAGES = b"""<script>
window.addEventListener("load", function () {
  document.querySelectorAll("img").forEach(function (img) {
    img.setAttribute("data-natural-width", String(img.naturalWidth));
  });
  document.documentElement.setAttribute("data-images-probed", "yes");
});
</script>"""


def _chromium(url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=8000",
           *args, url]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def site(book_html):
    if not Path(CHROMIUM).is_file():
        pytest.skip("install Debian's chromium: apt-get install chromium")
    served = _Site(book_html)
    yield served
    served.close()


@pytest.fixture(scope="session")
def load(site):
    """load(page) -> (parsed DOM after scripts ran, [(path, status)] of that page's requests)."""
    from bs4 import BeautifulSoup

    cache = {}

    def _load(page: str):
        if page not in cache:
            first = len(site.requests)
            proc = _chromium(site.base + page, "--dump-dom")
            assert proc.returncode == 0 and "<html" in proc.stdout, \
                f"chromium failed on {page} (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
            cache[page] = (BeautifulSoup(proc.stdout, "html.parser"), site.requests[first:])
        return cache[page]

    return _load


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob"):
        return True
    if parts.scheme == "":
        return not parts.netloc  # "//host/x" is remote
    return parts.scheme == "http" and parts.hostname == "127.0.0.1"


@pytest.mark.book
@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline(page, load, site):
    dom, requests = load(page)
    title = dom.title.get_text(" ", strip=True) if dom.title else ""
    assert CONFIG["title"] in title, f"{page}: page title {title!r} lacks the book's title"
    main = dom.find("main") or dom.body
    entry = page[: -len(".html")]
    if entry in TOC_ENTRIES:
        h1 = dom.find("h1")
        assert h1 is not None, f"{page}: no <h1>"
        expected = _title_of(entry)
        assert expected in h1.get_text(" ", strip=True), f"{page}: heading is not {expected!r}"
        assert len(main.get_text(" ", strip=True)) > 500, f"{page}: the page body is nearly empty"
    else:
        assert SPHINX_PAGES[page] in title

    # Nothing from another host: no script, stylesheet, font, frame or image.
    remote = [tag.get(attr) for tag, attr in
              [(t, "src") for t in dom.find_all(["script", "iframe", "img"], src=True)]
              + [(t, "href") for t in dom.find_all("link", href=True)
                 if set(t.get("rel", [])) & {"stylesheet", "preload", "modulepreload", "icon"}]
              if not _is_local(tag.get(attr))]
    assert remote == [], f"{page} loads resources from other hosts: {remote}"

    # Every request the page made to the site succeeded (browsers always try a favicon).
    failed = [(path, status) for path, status in requests
              if status != 200 and status != 304 and path != "/favicon.ico"]
    assert failed == [], f"{page}: failed requests {failed}"

    # Math: every formula typeset by MathJax, which came from this site.
    math = dom.select("span.math, div.math")
    if page == f"{TOC['root']}.html":
        assert math, f"{page} should show at least one formula"
    if math:
        scripts = [urlsplit(urljoin(site.base + page, s["src"])).path
                   for s in dom.find_all("script", src=True) if "mathjax" in s["src"].lower()]
        assert scripts == [MATHJAX_SCRIPT], f"{page}: MathJax scripts {scripts}"
        paths = {path.split("?")[0] for path, status in requests if status in (200, 304)}
        assert MATHJAX_SCRIPT in paths, f"{page}: MathJax was not loaded from the site"
        assert any(p.startswith(MATHJAX_FONTS) for p in paths), f"{page}: no MathJax font loaded"
        for el in math:
            assert el.find("mjx-container") is not None, \
                f"{page}: formula not typeset: {el.get_text()[:120]!r}"
            raw = "".join(s for s in el.find_all(string=True, recursive=False))
            assert "\\" not in raw and "$" not in raw, f"{page}: raw TeX left: {raw[:120]!r}"
        assert dom.find("mjx-merror") is None, f"{page}: MathJax reports a TeX error"
    prose = copy.copy(main)  # the parsed page is shared with other tests: edit a copy
    for skip in prose.find_all(["pre", "code", "script", "style", "mjx-container"]):
        skip.decompose()
    text = prose.get_text(" ")
    for delimiter in ("\\(", "\\[", "$$"):
        assert delimiter not in text, f"{page}: untypeset TeX ({delimiter!r}) in the page text"


@pytest.mark.book
@pytest.mark.browser
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_page_links_to_colab(notebook, load):
    assert CONFIG["launch_buttons"]["colab_url"].rstrip("/") == COLAB
    dom, _ = load(f"{notebook}.html")
    links = sorted({a["href"] for a in dom.find_all("a", href=True)
                    if a["href"].startswith(COLAB + "/")})
    assert links, f"{notebook}.html has no Colab link"
    # Built here from the repository and ref, not taken from the page: a wrong link
    # construction fails here.
    expected = (f"https://colab.research.google.com/github/{COURSE_ORG}/{COURSE_REPO}"
                f"/blob/{COURSE_BRANCH}/{notebook}.ipynb")
    assert links == [expected], f"{notebook}.html: Colab links {links}"
    if notebook == LENET:
        assert links == [LENET_COLAB_HREF]
    assert (ROOT / f"{notebook}.ipynb").is_file()


@pytest.mark.book
@pytest.mark.browser
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_page_shows_its_stored_outputs(notebook, load):
    """The build does not execute notebooks, so the page must show the outputs they store,
    stdout and stderr streams included."""
    nb = nbformat.read(ROOT / f"{notebook}.ipynb", as_version=4)
    dom, _ = load(f"{notebook}.html")
    shown = " ".join(" ".join(el.get_text(" ") for el in dom.select(".cell_output")).split())
    outputs = [(cell, out) for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", [])]
    assert outputs, f"{notebook}.ipynb is stored without outputs: run `make execute`"
    missing = []
    for cell, out in outputs:
        tags = set(cell.metadata.get("tags", []))
        if out.output_type != "stream" or tags & {"remove-cell", "remove-output", f"remove-{out.name}"}:
            continue
        lines = [" ".join(_ANSI.sub("", line.split("\r")[-1]).split())
                 for line in out.text.splitlines()]
        first = next((line for line in lines if line), None)
        if first and first not in shown:
            missing.append(f"{out.name}: {first[:100]!r}")
    assert missing == [], f"{notebook}.html lacks stored stream outputs: {missing}"
    if any(out.output_type == "stream" and out.name == "stderr" for _, out in outputs):
        assert dom.select(".output.stderr"), f"{notebook}.html renders no stderr output"


@pytest.mark.book
@pytest.mark.browser
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_page_shows_its_stored_figures(notebook, site):
    """Every image a notebook stores is on its page (one <img> per image in the cell
    outputs) and loads: the browser decoded it (naturalWidth > 0)."""
    from bs4 import BeautifulSoup

    stored = _stored_pngs(notebook)
    if notebook == LENET:  # tests/test_notebooks.py checks each figure cell has its image
        assert stored > 0, f"{notebook}.ipynb is stored without its figures: run `make execute`"
    proc = _chromium(f"{site.base}{notebook}.html?probe-images", "--dump-dom")
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-3000:]
    dom = BeautifulSoup(proc.stdout, "html.parser")
    assert dom.html.get("data-images-probed") == "yes", "the page's load event never fired"
    images = dom.select(".cell_output img")
    assert len(images) == stored, f"{notebook}.html shows {len(images)} of {stored} stored images"
    not_loaded = [img.get("src") for img in images if int(img.get("data-natural-width", 0)) <= 0]
    assert not_loaded == [], f"{notebook}.html: images that did not load: {not_loaded}"


# --- the animations of the convolution arithmetic chapter --------------------------------

ANIMATED_PAGE = "chapters/convolution_arithmetic"
# The fixed ids the chapter gives its matplotlib players (FuncAnimation.to_jshtml), in page
# order. matplotlib itself would name them after a random uuid4 on every run.
ANIMATION_IDS = ("conv_stride", "conv_dilation")

# After the page's load event and the players' start, drive each player through its own
# buttons and record on its <img> which frame it shows (an index into its frames, -1 for
# none), for --dump-dom to show.
_PROBE_ANIMATIONS = b"""<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    document.querySelectorAll("div.animation").forEach(function (box) {
      var img = box.querySelector("img");
      var player = window["anim" + img.id.replace("_anim_img", "")];
      if (!player) { img.setAttribute("data-shown", "no player"); return; }
      var sources = player.frames.map(function (frame) { return frame.src; });
      var shown = function () { return String(sources.indexOf(img.src)); };
      var click = function (title) {
        box.querySelector("button[title='" + title + "']").click();
      };
      img.setAttribute("data-frames", String(sources.length));
      img.setAttribute("data-decoded-width", String(img.naturalWidth));
      img.setAttribute("data-shown", shown());
      click("Next frame");
      img.setAttribute("data-shown-after-next", shown());
      click("Last frame");
      img.setAttribute("data-shown-after-last", shown());
      click("First frame");
      click("Play");
      setTimeout(function () {  // the players step every 800 ms
        img.setAttribute("data-shown-while-playing", shown());
        click("Pause");
      }, 2000);
    });
    setTimeout(function () {
      document.documentElement.setAttribute("data-animations-probed", "yes");
    }, 2500);
  }, 500);
});
</script>"""


@pytest.mark.book
def test_animations_are_embedded_with_fixed_ids(book_html):
    """Each player is in the built page with its fixed id, every frame embedded in the page
    as a PNG data URI, buttons with visible labels, and nothing to fetch from the network."""
    from bs4 import BeautifulSoup

    html = (book_html / f"{ANIMATED_PAGE}.html").read_text(encoding="utf-8")
    dom = BeautifulSoup(html, "html.parser")
    players = dom.select(".cell_output div.animation")
    ids = [p.find("img", id=True)["id"].removeprefix("_anim_img") for p in players]
    assert ids == list(ANIMATION_IDS), f"{ANIMATED_PAGE}.html: animation ids {ids}"
    assert not re.search(r"_anim_img[0-9a-f]{32}", html), "an animation with a random id"
    for anim_id, player in zip(ANIMATION_IDS, players):
        output = player.find_parent(class_="cell_output")
        assert output is not None, f"{anim_id}: not inside a cell output"
        scripts = [s.string or "" for s in output.find_all("script")]
        script = next((s for s in scripts if f'"_anim_img{anim_id}"' in s), None)
        assert script is not None, f"{anim_id}: the script that starts the player is missing"
        count = int(re.search(r"var frames = new Array\((\d+)\);", script).group(1))
        frames = re.findall(r'frames\[(\d+)\] = "data:image/png;base64,([A-Za-z0-9+/=]+)"', script)
        assert count >= 4 and [int(i) for i, _ in frames] == list(range(count)), \
            f"{anim_id}: {len(frames)} embedded PNG frames for {count}"
        assert len({data for _, data in frames}) == count, f"{anim_id}: repeated frames"
        assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for _, data in frames)
        labels = {b.get("title"): b.get_text(strip=True) for b in player.find_all("button")}
        assert {"Play", "Pause", "Next frame", "Previous frame"} <= set(labels), labels
        assert all(labels.values()), f"{anim_id}: buttons without a visible label: {labels}"
        remote = [t.get(a) for t in output.find_all(True) for a in ("src", "href")
                  if t.get(a) and not _is_local(t.get(a))]
        assert remote == [], f"{anim_id}: loads {remote}"


@pytest.mark.book
@pytest.mark.browser
def test_animations_play_offline_in_the_browser(site, monkeypatch):
    """In Chromium, with nothing but the site: each player shows its first frame, and its
    Next, Last, First and Play buttons change the frame shown."""
    from bs4 import BeautifulSoup

    # The site adds _PROBE_IMAGES to PAGE.html?probe-images: add the animation probe to it.
    monkeypatch.setitem(globals(), "_PROBE_IMAGES", _PROBE_IMAGES + _PROBE_ANIMATIONS)
    first = len(site.requests)
    proc = _chromium(f"{site.base}{ANIMATED_PAGE}.html?probe-images", "--dump-dom")
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-3000:]
    dom = BeautifulSoup(proc.stdout, "html.parser")
    assert dom.html.get("data-animations-probed") == "yes", "the probe never finished"
    failed = [(path, status) for path, status in site.requests[first:]
              if status not in (200, 304) and path != "/favicon.ico"]
    assert failed == [], f"{ANIMATED_PAGE}.html: failed requests {failed}"
    for anim_id in ANIMATION_IDS:
        img = dom.find("img", id=f"_anim_img{anim_id}")
        assert img is not None, f"{anim_id}: no player on the page"
        frames = int(img.get("data-frames", 0))
        assert frames >= 4, f"{anim_id}: the player holds {img.get('data-frames')} frames"
        assert int(img.get("data-decoded-width", 0)) > 0, f"{anim_id}: first frame not decoded"
        assert img.get("src", "").startswith("data:image/png;base64,")
        shown = {key: img.get(f"data-{key}") for key in
                 ("shown", "shown-after-next", "shown-after-last", "shown-while-playing")}
        assert shown == {"shown": "0", "shown-after-next": "1",
                         "shown-after-last": str(frames - 1),
                         "shown-while-playing": "2"}, f"{anim_id}: frames shown {shown}"


@pytest.mark.book
@pytest.mark.browser
def test_lenet_page_screenshot(site, tmp_path):
    from PIL import Image

    shot = tmp_path / "lenet.png"
    proc = _chromium(f"{site.base}{LENET}.html", f"--screenshot={shot}", "--window-size=1280,2000",
                     "--hide-scrollbars")
    assert proc.returncode == 0 and shot.is_file(), f"no screenshot:\n{proc.stderr[-3000:]}"
    if os.environ.get("BOOK_SCREENSHOT_DIR"):  # to look at it
        shutil.copy(shot, Path(os.environ["BOOK_SCREENSHOT_DIR"]) / shot.name)
    assert shot.stat().st_size > 30_000, f"screenshot of only {shot.stat().st_size} bytes"
    with Image.open(shot) as img:
        assert img.size == (1280, 2000)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) >= 64, "the screenshot has almost no colours"
    most = max(count for count, _ in colours)
    assert most < 0.97 * 1280 * 2000, "the screenshot is nearly a single colour"
