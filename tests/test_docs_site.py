"""The documentation site as a reader sees it: built with ``mkdocs build --strict``, served on
127.0.0.1 and loaded page by page in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, which scripts/setup.sh installs; no browser is downloaded).

Checked: every page renders (a title and a heading, no 404), nothing is loaded from another
host (fonts, scripts, highlighting), the search finds "passphrase", and code blocks are
highlighted (Pygments' token spans have a colour of their own).
"""

from __future__ import annotations

import functools
import http.server
import importlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, f"{missing} missing: run scripts/setup.sh (Debian's chromium packages)"
    # Both paths are given, so Selenium Manager (which could download a driver) never runs.
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()


def pages(site: Path) -> list[str]:
    """Every page of the site, as a path below its root."""
    return sorted(
        str(p.relative_to(site).parent) + "/"
        for p in site.rglob("index.html")
        if not p.relative_to(site).parts[0].startswith(("assets", "search"))
    )


def test_the_site_has_the_pages(site: Path) -> None:
    found = pages(site)
    for page in ("./", "cli/", "compat/", "api/vault/", "api/storage/", "api/errors/"):
        assert page in found, found


@pytest.mark.parametrize(
    "module", ["vault", "vault.storage", "vault.crypto", "vault.errors", "vault.testing"]
)
def test_the_api_reference_covers_the_public_names(site: Path, module: str) -> None:
    """Each name in the module's ``__all__`` has an entry (an anchor ``<module path>.<name>``)
    on some page of the API reference; re-exports may be documented where they are defined."""
    anchors = set()
    for page in (site / "api").rglob("index.html"):
        anchors.update(re.findall(r'id="(vault[\w.]*)"', page.read_text()))
    names = importlib.import_module(module).__all__
    missing = [
        name
        for name in names
        if not name.startswith("_")
        and name != "errors"  # the module has its own page
        and not any(anchor.endswith(f".{name}") for anchor in anchors)
    ]
    assert not missing, f"{module}: no API reference entry for {missing}"


def test_every_page_renders_from_this_host_only(site: Path, base_url: str, driver: Any) -> None:
    for page in pages(site):
        url = base_url + page.removeprefix("./")
        driver.get(url)
        title = driver.title
        assert "session-vault" in title and "404" not in title, (url, title)
        heading = driver.execute_script(
            "const h = document.querySelector('h1'); return h && h.textContent"
        )
        assert heading and heading.strip(), f"{url} has no heading"
        loaded = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        foreign = [name for name in loaded if not name.startswith(base_url)]
        assert not foreign, f"{url} loads from other hosts: {foreign}"


def test_search_finds_passphrase(base_url: str, driver: Any) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    driver.get(base_url + "?q=passphrase")
    # Material runs the query of ?q= once its search index (loaded from this host) is ready.
    results = WebDriverWait(driver, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item")
    )
    assert results
    text = " ".join(r.text for r in results).lower()
    assert "passphrase" in text


def test_code_blocks_are_highlighted(base_url: str, driver: Any) -> None:
    driver.get(base_url + "compat/")
    colours = driver.execute_script(
        """
        const KINDS = ['k', 'kn', 'nn', 's1', 's2', 'o', 'n', 'c1'];
        const code = document.querySelector('.highlight code');
        if (!code) return null;
        const tokens = [...document.querySelectorAll('.highlight code span[class]')]
          .filter(s => KINDS.some(c => s.classList.contains(c)));
        return {
          plain: getComputedStyle(code).color,
          tokens: tokens.map(s => [s.className, getComputedStyle(s).color]),
        };
        """
    )
    assert colours, "no code block with the class 'highlight' (pymdownx.highlight)"
    assert colours["tokens"], "no Pygments token spans in the code blocks"
    coloured = {cls for cls, colour in colours["tokens"] if colour != colours["plain"]}
    # Keywords (`from`, `import`) must stand out from the plain text.
    assert {"k", "kn"} & coloured, colours
