"""The workloads table in a real browser: searching and sorting ask the server (Quasar's
server-side pagination), which answers from the cached summaries."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.api.conftest import Server
from tests.ui import test_browser as chromium
from tests.ui.test_browser import browser, click, demo, field, wait  # noqa: F401 - fixtures and helpers

pytestmark = chromium.pytestmark


def names(driver: WebDriver) -> list[str]:
    links = driver.find_elements(By.CSS_SELECTOR, '[data-testid="workloads-table"] tbody a')
    return [link.text for link in links]


def rows_become(driver: WebDriver, check: object) -> list[str]:
    seen: list[str] = []

    def ready(d: WebDriver) -> bool:
        nonlocal seen
        try:
            seen = names(d)
        except Exception:  # re-rendered while read
            return False
        return bool(check(seen))  # type: ignore[operator]

    WebDriverWait(driver, 20).until(ready)
    return seen


def test_search_and_sort_go_through_the_server(demo: Server, browser: WebDriver) -> None:  # noqa: F811
    browser.get(demo.url + "login")
    field(browser, "username").send_keys("admin")
    field(browser, "password").send_keys(demo.password + "\n")
    wait(browser, '[data-testid="cost_month"]')
    browser.get(demo.url + "workloads")
    first = rows_become(browser, lambda seen: len(seen) > 3)
    click(browser, "th:nth-child(3)")  # Name: ascending
    ordered = rows_become(browser, lambda seen: seen == sorted(seen) and seen != first)
    assert ordered == sorted(ordered)
    field(browser, "search").send_keys("frontend")
    found = rows_become(browser, lambda seen: seen and all("frontend" in name for name in seen))
    assert found == ["frontend"]
