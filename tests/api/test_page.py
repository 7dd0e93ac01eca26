"""The clinician page at ``/``: served without a key, static assets with their types, no path
traversal, a label for every input; and (marked ``browser``) the page driven in headless
Chromium against the real app under uvicorn, with a screenshot in tests/api/artifacts/."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sequencer.api.app import create_app
from sequencer.api.routes import page
from tests.api.conftest import KEY

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def with_page(app):
    """The app with the page router (a no-op once ``create_app`` includes it)."""
    if not any(getattr(r, "path", None) == "/" for r in app.routes):
        app.include_router(page.router)
    return app


@pytest.fixture(scope="module")
def anonymous(settings, sources):
    """A client that sends no API key (the page needs none)."""
    with TestClient(with_page(create_app(settings, sources=sources))) as c:
        yield c


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict] = []
        self.label_for: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("input", "select", "textarea"):
            self.controls.append({"tag": tag, **a})
        elif tag == "label" and a.get("for"):
            self.label_for.add(a["for"])


def test_page_is_served_without_a_key(anonymous):
    r = anonymous.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    html = r.text
    assert '<form id="patient-form"' in html
    for field in ("api_key", "her2_ihc", "her2_ish", "pdl1_cps", "msi_high", "current_line",
                  "prior_regimens", "ecog", "objective_kind", "willingness_to_pay",
                  "include_investigational", "alterations-rows", "contraindication-boxes"):
        assert f'id="{field}"' in html
    # the choices are built from GET /v1/vocabulary (checked in the browser test below)
    for choices in ("her2_ihc", "her2_ish", "lines", "ecog", "objectives"):
        assert f'data-vocabulary="{choices}"' in html
    assert 'src="/static/app.js"' in html and 'href="/static/style.css"' in html
    assert "not a prescription" in html
    assert "form-action 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_every_control_has_a_label_and_no_name(anonymous):
    """Accessible labels; no ``name`` attributes, so a native submit could carry no data."""
    parser = _Inputs()
    parser.feed(anonymous.get("/").text)
    assert len(parser.controls) >= 10  # the static ones; the vocabulary's are added by app.js
    for control in parser.controls:
        assert control.get("id") in parser.label_for or control.get("aria-label"), control
        assert "name" not in control, control


@pytest.mark.parametrize(("name", "media_type", "marker"), [
    ("app.js", "text/javascript; charset=utf-8", '"use strict"'),
    ("style.css", "text/css; charset=utf-8", ":root"),
    ("index.html", "text/html; charset=utf-8", "<!DOCTYPE html>"),
])
def test_static_assets_have_their_types(anonymous, name, media_type, marker):
    r = anonymous.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == media_type
    assert marker in r.text


@pytest.mark.parametrize("path", [
    "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
    "/static/..%2F..%2Fapi%2Fapp.py", "/static/%2e%2e%2f%2e%2e%2fsettings.py", "/static/%2e%2e",
    "/static/missing.js", "/static/", "/static/.gitignore", "/static/sub/app.js",
    "/static/%2fetc%2fpasswd",
])
def test_no_path_traversal(anonymous, path):
    r = anonymous.get(path)
    assert r.status_code == 404
    assert "import" not in r.text and "root:" not in r.text


def test_only_the_api_key_is_stored():
    script = (page.STATIC_DIR / "app.js").read_text()
    assert "localStorage" not in script and "document.cookie" not in script
    assert script.count("sessionStorage.setItem") == 1
    assert "innerHTML" not in script  # server text goes in as text


# --------------------------------------------------------------------------------------------
# The page in a real browser
# --------------------------------------------------------------------------------------------


@contextmanager
def serving(app) -> Iterator[str]:
    """uvicorn on a socket that listens before the server starts: the first request waits in
    its backlog until the app has started (no polling); the timeout is a safety net."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=60) as r:
            assert json.load(r) == {"status": "ok"}
    except (OSError, AssertionError):
        server.should_exit = True
        pytest.fail("uvicorn did not answer /healthz")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(settings, sources):
    with serving(with_page(create_app(settings, sources=sources))) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"headless browser test needs {' and '.join(missing)} "
                    "(Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,1600"):
        options.add_argument(arg)
    options.binary_location = str(CHROMIUM)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.mark.browser
def test_clinician_page_in_headless_chromium(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, wait = browser, WebDriverWait(browser, 20)
    driver.get(live_server + "/")
    assert "not a prescription" in driver.find_element(By.ID, "disclaimer").text

    # the form's choices come from GET /v1/vocabulary, before any key is typed
    wait.until(lambda d: d.find_element(By.ID, "patient-form").get_attribute("data-ready"))
    with urllib.request.urlopen(f"{live_server}/v1/vocabulary", timeout=5) as r:
        terms = json.load(r)
    boxes = driver.find_elements(By.CSS_SELECTOR, "#alterations-rows input[type=checkbox]")
    assert [b.get_attribute("id") for b in boxes] == [f"alt-{m['id']}" for m in terms["mechanisms"]]
    contra = driver.find_elements(By.CSS_SELECTOR, "#contraindication-boxes input")
    assert [c.get_attribute("id") for c in contra] == [
        f"ci-{c['id']}" for c in terms["contraindications"]]
    for control in boxes + contra + driver.find_elements(By.CSS_SELECTOR, "select"):
        labels = driver.find_elements(By.CSS_SELECTOR,
                                      f"label[for='{control.get_attribute('id')}']")
        assert labels, control.get_attribute("id")  # every built control is labelled
    objectives = Select(driver.find_element(By.ID, "objective_kind")).options
    assert [o.get_attribute("value") for o in objectives] == [o["id"] for o in terms["objectives"]]

    key = driver.find_element(By.ID, "api_key")
    key.send_keys(KEY)
    Select(driver.find_element(By.ID, "her2_ihc")).select_by_value("3+")
    driver.find_element(By.ID, "pdl1_cps").send_keys("15")  # change event loads the regimens
    Select(driver.find_element(By.ID, "current_line")).select_by_value("1")
    Select(driver.find_element(By.ID, "ecog")).select_by_value("1")
    wait.until(lambda d: len(Select(d.find_element(By.ID, "prior_regimens")).options) >= 10)
    driver.find_element(By.ID, "submit").click()

    wait.until(ec.text_to_be_present_in_element((By.ID, "recommended"),
                                                "pembrolizumab_trastuzumab_chemo"))
    recommended = driver.find_element(By.ID, "recommended").text
    assert "pembrolizumab_trastuzumab_chemo" in recommended
    assert "Pembrolizumab + trastuzumab" in recommended
    rows = driver.find_elements(By.CSS_SELECTOR, "#alternatives tbody tr")
    assert len(rows) >= 3
    assert "\u2013" in rows[0].text  # estimates with intervals
    assert "trastuzumab_deruxtecan" in driver.find_element(By.ID, "plan").text
    assert driver.find_elements(By.CSS_SELECTOR, "#plan ul ul li")  # a nested tree
    assert "KEYNOTE-811" in driver.find_element(By.ID, "evidence").text
    assert "evidence sha256" in driver.find_element(By.ID, "model").text
    assert "not a prescription" in driver.find_element(By.ID, "caveats").text

    # No patient data in the URL or in storage: only the API key, in sessionStorage.
    assert driver.current_url == live_server + "/"
    assert driver.execute_script("return Object.keys(sessionStorage)") == ["sequencer.apiKey"]
    assert driver.execute_script("return localStorage.length") == 0

    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 100, 8000))
    driver.save_screenshot(str(ARTIFACTS / "clinician-page.png"))
    assert (ARTIFACTS / "clinician-page.png").stat().st_size > 10_000

    # A 422 is shown next to the named field: IHC 2+ needs an ISH result.
    Select(driver.find_element(By.ID, "her2_ihc")).select_by_value("2+")
    driver.find_element(By.ID, "submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "her2_ish-error"), "required"))
    assert driver.find_element(By.ID, "her2_ish").get_attribute("aria-invalid") == "true"
    assert "her2_ish" in driver.find_element(By.ID, "form-errors").text

    # A wrong key is a 401, said as such.
    key.clear()
    key.send_keys("wrong-key")
    Select(driver.find_element(By.ID, "her2_ihc")).select_by_value("3+")
    driver.find_element(By.ID, "submit").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "form-errors"), "401"))
    assert "missing or wrong" in driver.find_element(By.ID, "api_key-error").text


@pytest.mark.browser
def test_the_page_offers_a_mechanism_added_to_the_vocabulary(browser, settings, tmp_path):
    """A resistance mechanism added to a copy of the priors (vocabulary entry plus its data,
    tests/test_vocabulary.py) appears on the page with its label and a result-source choice."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from sequencer.model.load import load_sources
    from tests.test_vocabulary import NEW, _priors_with_mechanism

    sources = load_sources(_priors_with_mechanism(tmp_path / "priors"))
    with serving(with_page(create_app(settings, sources=sources))) as base:
        browser.get(base + "/")
        WebDriverWait(browser, 20).until(
            lambda d: d.find_element(By.ID, "patient-form").get_attribute("data-ready"))
        assert browser.find_element(By.ID, f"alt-{NEW}").get_attribute("type") == "checkbox"
        label = browser.find_element(By.CSS_SELECTOR, f"label[for='alt-{NEW}']")
        assert label.text == "KRAS amplification"
        assert browser.find_element(By.ID, f"alt-{NEW}-source").tag_name == "select"

