"""The web page in a real browser: headless Chromium (Debian's package, driven by Playwright through executable_path)
against a server started here on a free loopback port. Load, generate, check the image's pixel size, move the
truncation slider, pick a class, interpolate, compare two models, keyboard use and a phone-width window.

Install the browser with `bash scripts/install-browser.sh`; without it these tests skip, saying so. Set
GANFORGE_PAGE_SCREENSHOT=docs/serve-page.png to also write the README's screenshot.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'ganforge[serve]'")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium here: run `bash scripts/install-browser.sh`")

from serve_fixtures import export_untrained, free_port  # noqa: E402

CELL = 28 + 2  # one 28x28 image and its grid padding


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`ganforge serve` of two models (one with a class and truncation, one with noise only) in a thread."""
    import uvicorn

    from ganforge.serve import build_app

    root = Path(os.environ.get("GANFORGE_PAGE_MODELS", "")) if os.environ.get("GANFORGE_PAGE_MODELS") else None
    if root is not None:
        folders = sorted(p for p in root.iterdir() if (p / "generator.safetensors").is_file())
    else:
        root = tmp_path_factory.mktemp("page")
        folders = [export_untrained("cgan", root / "cgan"), export_untrained("dcgan", root / "dcgan")]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(folders, "cpu"), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert thread.is_alive() and time.time() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", [f.name for f in folders]
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def loaded_size(page, selector: str, previous: str | None = None) -> tuple[int, int]:
    """The natural pixel size of an <img> once its (new) source has loaded."""
    page.wait_for_function("([s, prev]) => { const i = document.querySelector(s); return i.src && i.src !== prev "
                           "&& i.complete && i.naturalWidth > 0; }", arg=[selector, previous], timeout=20000)
    return page.eval_on_selector(selector, "i => [i.naturalWidth, i.naturalHeight]")


def test_the_page_generates_interpolates_and_compares(server, browser, tmp_path):
    url, names = server
    first, second = names[0], names[1]
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function("document.querySelector('#model').options.length > 0")
    assert page.eval_on_selector_all("#model option", "os => os.map(o => o.value)") == names
    page.select_option("#model", first)
    assert page.locator("#class option").count() == 11, "random + 10 classes, from the declared class label"

    page.fill("#count", "4")
    page.fill("#seed", "7")
    page.click("#generate")
    assert loaded_size(page, "#result") == [2 * CELL + 2, 2 * CELL + 2]
    assert "ms on the server" in page.inner_text("#latency")

    previous = page.get_attribute("#result", "src")
    page.locator("#truncation").fill("0.5")
    page.select_option("#class", "3")
    with page.expect_request("**/api/generate") as sent:
        page.click("#generate")
    assert json.loads(sent.value.post_data) == {"model": first, "n": 4, "seed": 7, "class": 3, "truncation": 0.5}
    loaded_size(page, "#result", previous)
    assert page.get_attribute("#download", "href").startswith("blob:")
    page.wait_for_function("document.querySelector('#drift').textContent.includes('over')")

    page.fill("#interp-steps", "5")
    page.click("#interpolate")
    assert loaded_size(page, "#strip") == [5 * CELL + 2, CELL + 2]

    page.select_option("#compare-model", second)
    page.click("#compare")
    assert loaded_size(page, "#compare-a") == loaded_size(page, "#compare-b") == [2 * CELL + 2, 2 * CELL + 2]
    assert first in page.inner_text("#caption-a") and second in page.inner_text("#caption-b")

    previous = page.get_attribute("#result", "src")
    page.focus("#seed")
    page.keyboard.type("1")
    page.keyboard.press("Enter")  # the controls are a form: Enter in a field generates
    loaded_size(page, "#result", previous)
    page.fill("#count", "9999")
    assert page.eval_on_selector("#count", "i => i.validity.rangeOverflow"), "the count field knows the server's cap"
    page.fill("#count", "4")
    page.fill("#seed", "100000000000000000000")
    page.click("#generate")
    page.wait_for_function("document.querySelector('#status').classList.contains('error')")
    assert "seed" in page.inner_text("#status"), "the server's reason is shown"
    page.fill("#seed", "7")
    page.click("#generate")
    page.wait_for_function("!document.querySelector('#status').classList.contains('error')")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    target = os.environ.get("GANFORGE_PAGE_SCREENSHOT")
    if target:
        page.screenshot(path=target, full_page=True)
    assert not errors, errors

    phone = browser.new_page(viewport={"width": 375, "height": 800})
    phone.goto(url)
    phone.wait_for_function("document.querySelector('#model').options.length > 0")
    phone.click("#generate")
    loaded_size(phone, "#result")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375, "no sideways scrolling on a phone"
    phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
