"""What a Chamilo 1.11 user does in a browser, as Playwright steps on the system Chromium.

Why Playwright: login, course creation and uploads are multi-step form flows with redirects,
cookies and a file chooser; Playwright drives them as a person would and waits for each page
itself. It runs the Debian `chromium` binary (no browser download), pointed at a dead local
proxy for everything but loopback, so no traffic leaves the machine.

Each step takes a screenshot into `shots`, kept with the test's results.

    with chromium() as browser:
        admin = ChamiloUI(browser, "http://127.0.0.1:8092/", shots)
        admin.login("admin", password)
        code = admin.create_course("Galera 101")
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lab.browser import chromium_binary

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--proxy-server=http://127.0.0.1:9",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-pings", "--dns-prefetch-disable"]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless system Chromium under Playwright (the caller skips when either is missing)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_binary(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class ChamiloUI:
    """One user's browser session (its own cookies) on one Chamilo portal."""

    def __init__(self, browser: Any, base_url: str, shots: Path, who: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.base = base_url.rstrip("/") + "/"
        self.shots = shots
        self.who = who
        self.taken: list[Path] = []

    def close(self) -> None:
        self.context.close()

    def shot(self, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{len(list(self.shots.glob('*.png'))) + 1:02d}-{self.who}-{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        self.taken.append(path)
        return path

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.base + path.lstrip("/"))
        assert response is not None and response.status < 400, f"{self.who}: {path} answered {response and response.status}"
        return response

    def text(self) -> str:
        return self.page.inner_text("body")

    def submit(self, selector: str) -> None:
        """Click what submits a form and wait for the page it leads to, which must not be an error."""
        with self.page.expect_navigation() as nav:
            self.page.locator(selector).first.click()
        response = nav.value
        assert response is None or response.status < 400, f"{self.who}: {self.page.url} answered {response.status}"

    # ---- the flows ----

    def login(self, username: str, password: str) -> None:
        """Through the home page's login form, as a person does."""
        self.goto("index.php")
        self.page.fill("input[name=login]", username)
        self.page.fill("input[name=password]", password)
        self.submit("button[name=submitAuth]")
        self.shot("logged-in")
        assert self.page.locator("a[href*='logout']").count() > 0, f"{username} is not logged in: {self.text()[:500]}"

    def logged_in(self) -> bool:
        return self.page.locator("a[href*='logout']").count() > 0

    def create_course(self, title: str) -> str:
        """main/create_course/add_course.php; returns the course code Chamilo made from the title."""
        self.goto("main/create_course/add_course.php")
        self.page.fill("#title", title)
        self.submit("form#add_course button[type=submit], form[name=add_course] button[type=submit]")
        self.shot("course-created")
        match = re.search(r"(?:cidReq=|/courses/)([A-Z0-9_]+)", self.page.url)
        assert match, f"no course code in {self.page.url}: {self.text()[:500]}"
        return match.group(1)

    def create_student(self, first: str, last: str, username: str, password: str) -> None:
        """main/admin/user_add.php with a chosen password and the default profile, student."""
        self.goto("main/admin/user_add.php")
        self.page.fill("#firstname", first)
        self.page.fill("#lastname", last)
        self.page.fill("#email", f"{username}@galera-lab.invalid")
        self.page.fill("#username", username)
        self.page.check("input[name='password[password_auto]'][value='0']")
        self.page.fill("#password", password)
        self.submit("form#user_add button[type=submit], form[name=user_add] button[type=submit]")
        self.shot("student-created")
        assert "user_list.php" in self.page.url or username in self.text(), self.text()[:500]

    def subscribe(self, username: str, course_code: str) -> None:
        """The course's Users tool: subscribe a platform user as a learner."""
        self.goto(f"main/user/subscribe_user.php?cidReq={course_code}&type=5&keyword={username}")
        self.submit("a[href*='register=yes']")
        self.shot("student-subscribed")

    def open_course(self, course_code: str) -> None:
        self.goto(f"courses/{course_code}/index.php")
        self.shot("course-home")
        assert course_code in self.page.url and not re.search(r"not allowed|Not authorized", self.text(), re.I), self.text()[:500]

    def upload_document(self, course_code: str, path: Path) -> None:
        """Documents tool, the "simple upload" tab (the other tab is a drag-and-drop widget)."""
        self.goto(f"main/document/upload.php?cidReq={course_code}")
        self.page.click("a[href='#tabs-2']")
        self.page.set_input_files("#bigUploadFile", str(path))
        self.submit("#upload_submitDocument")
        self.shot("document-uploaded")

    def document_listed(self, course_code: str, name: str) -> bool:
        self.goto(f"main/document/document.php?cidReq={course_code}")
        self.shot("documents")
        return name in self.text()
