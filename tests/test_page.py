"""The web page in headless Chromium (Debian's chromium + chromedriver, driven by Selenium):
upload a photo and a Fashion-MNIST item, draw on the canvas; the probabilities shown must be
the API's for the same file. Screenshots are kept in tests/artifacts/."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from convnet.serve.launch import ServerProcess

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def server(fashion_run):
    with ServerProcess(fashion_run) as s:
        yield s.url


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, DRIVER):
        if not Path(path).exists():
            pytest.fail(f"{path} is missing: run scripts/test-deps.sh (Debian chromium, chromium-driver)")
    profile = tempfile.mkdtemp(prefix="convnet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, source: str, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d):
        state = d.find_element("id", "status").get_attribute("data-state")
        if state == "error":
            raise AssertionError(d.find_element("id", "status").text)
        return state == "ready" and d.find_element("tag name", "body").get_attribute("data-source") == source

    WebDriverWait(driver, timeout, poll_frequency=0.1).until(done)


def shown_probabilities(driver) -> dict[str, tuple[float, str]]:
    rows = driver.find_elements("css selector", "#bars .bar-row")
    return {r.get_attribute("data-class"): (float(r.get_attribute("data-probability")),
                                            r.find_element("css selector", ".value").text) for r in rows}


def api_probabilities(url: str, path: Path) -> dict[str, float]:
    r = httpx.post(url + "/predict?top=10", files={"file": (path.name, path.read_bytes())}, timeout=30)
    r.raise_for_status()
    return {t["class"]: t["probability"] for t in r.json()["predictions"][0]["top"]}


def upload(driver, url: str, path: Path) -> None:
    driver.find_element("id", "file").send_keys(str(path))
    wait_for(driver, path.name)


def check_matches_api(driver, url: str, path: Path) -> None:
    shown, api = shown_probabilities(driver), api_probabilities(url, path)
    assert set(shown) == set(api) and len(shown) == 10
    for name, (p, text) in shown.items():
        assert p == api[name], name                          # the very numbers the API gave
        assert text == f"{api[name] * 100:.2f}%"             # and shown as such
    top = driver.find_element("css selector", "#bars .bar-row.top")
    assert top.get_attribute("data-class") == max(api, key=api.get)
    bar = top.find_element("css selector", ".fill").size["width"]
    track = top.find_element("css selector", ".track").size["width"]
    assert abs(bar / track - api[top.get_attribute("data-class")]) < 0.01     # the bar is drawn to scale


def test_page_shows_the_apis_probabilities_and_the_maps(server, browser, shared_images,
                                                        shared_datasets, tmp_path):
    from PIL import Image

    from convnet.data.idx import load_idx_pair

    browser.get(server + "/")
    assert browser.find_element("tag name", "body").get_attribute("data-ready") in ("true", None)
    assert "convnet" in browser.find_element("id", "model-line").text

    chelsea = shared_images / "chelsea.png"
    upload(browser, server, chelsea)
    check_matches_api(browser, server, chelsea)
    layers = browser.find_elements("css selector", "#layers figure")
    assert len(layers) >= 4 and "Conv2d" in layers[0].text + layers[1].text
    view = browser.find_element("id", "network-view")
    assert view.get_attribute("src").startswith("data:image/png") and view.get_property("naturalWidth") == 28
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "page-chelsea.png"))

    images, labels = load_idx_pair(shared_datasets / "fashion-mnist", "t10k")
    item = tmp_path / "fashion-item.png"
    Image.fromarray(images[0]).save(item)                  # the first test item
    upload(browser, server, item)
    check_matches_api(browser, server, item)
    browser.save_screenshot(str(ARTIFACTS / "page-fashion.png"))
    print("screenshots:", ARTIFACTS / "page-chelsea.png", ARTIFACTS / "page-fashion.png")


def test_drawing_on_the_canvas_classifies_it(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get(server + "/")
    pad = browser.find_element("id", "pad")
    chain = ActionChains(browser).move_to_element_with_offset(pad, -60, -80).click_and_hold()
    for dx, dy in [(40, 0), (40, 0), (0, 60), (0, 60), (0, 40)]:
        chain = chain.move_by_offset(dx, dy)
    chain.release().perform()
    wait_for(browser, "drawing.png")
    shown = shown_probabilities(browser)
    assert len(shown) == 10 and abs(sum(p for p, _ in shown.values()) - 1) < 1e-3
    assert len(browser.find_elements("css selector", "#layers figure")) >= 4
    browser.save_screenshot(str(ARTIFACTS / "page-drawing.png"))


def test_page_loads_nothing_from_outside(server, browser):
    browser.get(server + "/")
    sources = browser.execute_script(
        "return [...document.querySelectorAll('script[src],link[href],img[src]')]"
        ".map(e => e.src || e.href).filter(Boolean)")
    assert sources and all(s.startswith(server) or s.startswith("data:") for s in sources), sources
    csp = httpx.get(server + "/").headers["content-security-policy"]
    assert "default-src 'self'" in csp


def test_the_empty_page_shows_no_broken_image(server, browser):
    browser.get(server + "/")
    broken = browser.execute_script(
        "return [...document.querySelectorAll('img')]"
        ".filter(e => !(e.complete && e.naturalWidth > 0))"           # not a loaded picture
        ".filter(e => getComputedStyle(e).visibility !== 'hidden' && e.getClientRects().length > 0)"
        ".map(e => e.id || e.alt)")
    assert broken == []
