"""/docs in a real headless Chromium on a machine without the internet: it renders the
operations from files the service serves itself, and "Authorize" still works.

Needs Debian's chromium and chromium-driver (``make test`` installs them as root);
without them the test does not run, and under ``CI=true`` fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import program

#: Swagger UI's element for GET /courses: its tag and operationId.
LIST_COURSES = "#operations-courses-listCourses"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    chromium = program("chromium", "chromium chromium-driver")
    chromedriver = program("chromedriver", "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # No name resolves but loopback's: a request that tries to leave the machine
        # fails, and the network log below still shows it.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def requests_sent(driver: webdriver.Chrome) -> list[dict]:
    """Every request the page sent so far: url and headers."""
    sent = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            sent.append(message["params"]["request"])
    return sent


def test_docs_render_offline_and_authorize_sends_the_key_home_only(app, live_server, browser):
    origin = live_server.url().rstrip("/").replace("localhost", "127.0.0.1")
    key = app.config["TEST_API_KEY"]
    wait = WebDriverWait(browser, 30)

    browser.get(f"{origin}/docs")
    wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    operations = {
        (
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"),
        )
        for block in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary")
    }
    assert ("POST", "/students/{student_id}/courses") in operations
    assert ("GET", "/events") in operations
    assert len(operations) >= 20

    # Authorize, then try GET /courses from the page.
    browser.find_element(By.CSS_SELECTOR, ".btn.authorize").click()
    field = wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, ".auth-container input")))
    field.send_keys(key)
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .modal-btn.auth").click()
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .btn-done").click()
    operation = browser.find_element(By.ID, "operations-courses-listCourses")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(
        seen.element_to_be_clickable((By.CSS_SELECTOR, f"{LIST_COURSES} .try-out__btn"))
    ).click()
    wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, f"{LIST_COURSES} .execute"))).click()
    status = wait.until(
        seen.presence_of_element_located(
            (
                By.CSS_SELECTOR,
                f"{LIST_COURSES} .live-responses-table tr.response .response-col_status",
            )
        )
    )
    assert status.text.strip().startswith("200"), status.text

    sent = requests_sent(browser)
    assert sent
    # Chromium's own pages (chrome://) are not the network; every http(s) request is.
    network = [r["url"] for r in sent if r["url"].startswith(("http:", "https:", "ws:", "wss:"))]
    assert any(url.startswith(f"{origin}/docs/assets/") for url in network)
    elsewhere = [url for url in network if not url.startswith(origin)]
    assert elsewhere == [], "the page asked the internet for something"
    with_key = [r["url"] for r in sent if r.get("headers", {}).get("Authorization")]
    assert with_key
    assert all(url.startswith(f"{origin}/courses") for url in with_key), with_key
    assert all(
        r["headers"]["Authorization"] == f"Bearer {key}"
        for r in sent
        if r.get("headers", {}).get("Authorization")
    )
