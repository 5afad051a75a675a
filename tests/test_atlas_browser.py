"""The atlas in a real browser: headless Chromium opens its pages from file:// and finds nothing broken.

Debian's ``chromium`` (installed by scripts/test.sh, as the VLFeat oracle is) is driven through
its DevTools protocol over ``--remote-debugging-pipe`` (JSON messages ending in a NUL byte on
file descriptors 3 and 4), with the standard library only. For each page: every ``<img>`` has
loaded (``naturalWidth`` > 0), every ``href``/``src`` is a file that exists (a link that is not
a file, http or other, counts as broken: the site is self-contained), and the console shows no
error (no exception, no ``console.error``, no failed load). A screenshot of each page checked is
kept as ``jaxinv-out/test-artefacts/<site>-index.png`` (``-layer``, ``-unit``; git-ignored).

The pages checked are the committed sample (docs/figures/atlas-sample/, what the docs link)
here, and a freshly built atlas in tests/test_atlas_site.py; a broken copy (a picture deleted,
a link to a missing page) shows that the check fails. Without chromium the tests skip, and fail when
CI=true (CI installs it).
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import pathlib
import select
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
from conftest import REPO, in_ci

SAMPLE = REPO / "docs" / "figures" / "atlas-sample"
ARTEFACTS = REPO / "jaxinv-out" / "test-artefacts"
#: What the page reports: its pictures (src, natural width) and every href/src.
_REPORT = ("JSON.stringify({images: Array.from(document.images).map(i => [i.src, i.naturalWidth]),"
           " links: Array.from(document.querySelectorAll('[href], [src]')).map(e => e.href || e.src)})")


def chromium_path() -> str:
    """The system's chromium: skip without it locally, fail under CI=true."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "chromium is missing; install it (apt-get install chromium) or run scripts/test.sh"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found


class Chromium:
    """Headless Chromium driven by the DevTools protocol over a pipe (stdlib only)."""

    def __init__(self, executable: str):
        self.profile = tempfile.TemporaryDirectory(prefix="jaxinv-chromium-")
        commands, self._to = os.pipe()      # we write commands; chromium reads them on fd 3
        self._from, replies = os.pipe()     # chromium writes replies on fd 4; we read them
        # bash moves them onto 3 and 4 for chromium (numbered from 10 first, so no move clobbers another)
        commands, replies = (self._renumbered(fd) for fd in (commands, replies))
        onto_3_and_4 = f'exec "$0" "$@" 3<&{commands} 4>&{replies} {commands}<&- {replies}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", onto_3_and_4, executable, "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", "--no-first-run", f"--user-data-dir={self.profile.name}",
             "--hide-scrollbars", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(commands, replies))
        os.close(commands)
        os.close(replies)
        self._ids = itertools.count(1)
        self._buffer = b""
        self.events: list[dict[str, Any]] = []

    @staticmethod
    def _renumbered(fd: int) -> int:
        """``fd`` as a descriptor numbered 10 or more (the original closed)."""
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return moved

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its pipe")
            self._buffer += chunk
        text, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(text)

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = 60.0) -> dict[str, Any]:
        """The result of one command (events met meanwhile are kept in ``events``)."""
        number = next(self._ids)
        message = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == number:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait(self, method: str, session: str, timeout: float = 60.0) -> None:
        """Until the event ``method`` of ``session`` arrives."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method and e.get("sessionId") == session for e in self.events):
            self.events.append(self._message(deadline))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to)
        os.close(self._from)
        self.profile.cleanup()


def _errors(events: list[dict[str, Any]], session: str) -> list[str]:
    """The console's errors among a page's events."""
    found = []
    for event in (e for e in events if e.get("sessionId") == session):
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            found.append(f"console.error: {[a.get('value') for a in params.get('args', [])]}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}".strip())
        elif method == "Network.loadingFailed":
            found.append(f"failed load: {params.get('errorText')}")
    return found


def _broken_link(link: str) -> str | None:
    """Why ``link`` does not resolve to a file of the site, or None."""
    parts = urllib.parse.urlsplit(link)
    if parts.scheme != "file":
        return f"{link} leaves the site"
    path = pathlib.Path(urllib.request.url2pathname(parts.path))
    return None if path.is_file() else f"{link} is missing"


def check_page(browser: Chromium, page: pathlib.Path, *, pictures: bool = True,
               screenshot: pathlib.Path | None = None) -> list[str]:
    """Open ``page`` from file:// in ``browser``: every problem found, in words ([] when none);
    ``pictures``: the page must show at least one."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride", {"width": 1000, "height": 800, "deviceScaleFactor": 1,
                                                       "mobile": False}, session=session)
    navigated = browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    if "errorText" in navigated:
        return [f"{page}: {navigated['errorText']}"]
    browser.wait("Page.loadEventFired", session)
    report = json.loads(browser.send("Runtime.evaluate", {"expression": _REPORT, "returnByValue": True},
                                     session=session)["result"]["value"])
    problems = [f"picture not loaded: {src}" for src, width in report["images"] if not width > 0]
    problems += [why for link in dict.fromkeys(report["links"]) if (why := _broken_link(link)) is not None]
    problems += _errors(browser.events, session)
    if pictures and not report["images"]:
        problems.append("no pictures on the page")
    if screenshot is not None:
        data = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                            session=session)["data"]
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(data))
    browser.send("Target.closeTarget", {"targetId": target})
    return [f"{page.parent.name}/{page.name}: {p}" for p in problems]


def check_site(folder: pathlib.Path, *, artefacts: str | None = None) -> list[str]:
    """Open the index of the atlas in ``folder``, its first layer's page and that layer's first
    unit page; every problem found. With ``artefacts``, each page's screenshot is kept as
    ``jaxinv-out/test-artefacts/<artefacts>-<page>.png``."""
    layer = min(p.parent for p in folder.glob("*/index.html"))
    unit = min(layer.glob("unit-*.html"))
    browser = Chromium(chromium_path())
    try:
        problems = []
        for page, name in ((folder / "index.html", "index"), (layer / "index.html", "layer"), (unit, "unit")):
            shot = ARTEFACTS / f"{artefacts}-{name}.png" if artefacts else None
            problems += check_page(browser, page, pictures=name != "index", screenshot=shot)
        return problems
    finally:
        browser.close()


def test_the_sample_atlas_opens_whole_in_chromium():
    chromium_path()
    assert SAMPLE.joinpath("index.html").is_file(), "no docs/figures/atlas-sample: python scripts/atlas_sample.py"
    problems = check_site(SAMPLE, artefacts="atlas-sample")
    assert not problems, "\n".join(problems)
    assert ARTEFACTS.joinpath("atlas-sample-unit.png").stat().st_size > 1000


def test_a_missing_picture_and_a_broken_link_are_found(tmp_path):
    chromium_path()
    broken = tmp_path / "site"
    shutil.copytree(SAMPLE, broken)
    layer = min(p.parent for p in broken.glob("*/index.html"))
    unit = min(layer.glob("unit-*.html"))
    picture = unit.with_suffix("") / "top-0.webp"
    picture.unlink()
    unit.write_text(unit.read_text(encoding="utf-8").replace("</body>", "<a href=\"gone.html\">x</a></body>"),
                    encoding="utf-8")
    problems = "\n".join(check_site(broken))
    assert f"picture not loaded: {picture.as_uri()}" in problems
    assert f"{(layer / 'gone.html').as_uri()} is missing" in problems
    assert "ERR_FILE_NOT_FOUND" in problems  # the console's error
