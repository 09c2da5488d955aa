"""A real headless Chromium, driven over the DevTools protocol through a pipe.

``--remote-debugging-pipe`` makes Chromium read DevTools commands from fd 3 and write replies to
fd 4 (NUL-terminated JSON), so no port, no websocket library and no driver download are needed:
only Debian's ``chromium``.  Every read has a deadline and the browser is killed on exit, so a
hung browser fails the test instead of hanging it.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

#: Flags for a quiet, offline, throw-away browser (a fresh profile is added per run).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--no-default-browser-check", "--remote-debugging-pipe")


def chromium_path() -> str:
    """The system Chromium; an AssertionError (a failing test, not a skip) when it is missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is required for the report tests (.ci/install-peers)"
    return path


class BrowserError(RuntimeError):
    pass


class Chromium:
    """``with Chromium() as b: text = b.page_text(path, javascript=False)``."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="mu3e-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Move the child's ends above fd 9 so the shell can put them on 3 and 4 without clashes.
        r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
        w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
        for fd in (to_child_r, from_child_w):
            os.close(fd)
        argv = [chromium_path(), *FLAGS, f"--user-data-dir={self._profile}", "about:blank"]
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$@" 3<&{r} 4>&{w} {r}<&- {w}>&-', "bash", *argv],
            pass_fds=(r, w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(r)
        os.close(w)
        self._buf = b""
        self._id = 0
        self._events: list[dict[str, Any]] = []

    # -------------------------------------------------------------- protocol

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise BrowserError("Chromium closed the DevTools pipe (did it crash?)")
            self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\0")
        return json.loads(raw)

    def send(self, method: str, params: Optional[dict[str, Any]] = None,
             session: Optional[str] = None) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_event(self, method: str, session: Optional[str] = None) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for ev in self._events:
                if ev.get("method") == method and (session is None
                                                    or ev.get("sessionId") == session):
                    self._events.remove(ev)
                    return ev
            self._events.append(self._read_message(deadline))

    # -------------------------------------------------------------- pages

    def open(self, path: Path, *, javascript: bool) -> str:
        """Open a file in a new tab (scripts on or off) and wait for its load event."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send("Emulation.setScriptExecutionDisabled", {"value": not javascript},
                  session=session)
        self.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 2400,
                                                         "deviceScaleFactor": 1,
                                                         "mobile": False}, session=session)
        self.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        self.wait_event("Page.loadEventFired", session)
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        """Evaluate in the page (works with page scripts disabled: DevTools is not the page)."""
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True}, session=session)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def page_text(self, path: Path, *, javascript: bool) -> tuple[str, bool]:
        """(the page's visible text, whether pytest-html's JavaScript ran: it draws a body into
        its results table, which the page hides, and without scripts that table has none)."""
        session = self.open(path, javascript=javascript)
        text = self.evaluate(session, "document.body.innerText")
        ran = self.evaluate(session, "document.querySelector('#results-table tbody') !== null")
        return text, bool(ran)

    def contrast(self, session: str, selector: str) -> list[dict[str, Any]]:
        """WCAG contrast of the rendered text of every element matching ``selector`` that
        has text of its own: its computed colour against the first opaque background behind
        it (white when none), as the browser drew them: [{text, color, background, ratio}]."""
        script = """(() => {
          const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
          const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
              return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
            .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
          const behind = (el) => { for (let e = el; e; e = e.parentElement) {
              const c = rgb(getComputedStyle(e).backgroundColor);
              if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c.slice(0, 3); }
            return [255, 255, 255]; };
          return [...document.querySelectorAll(SELECTOR)]
            .filter((el) => el.offsetParent !== null && [...el.childNodes].some(
              (n) => n.nodeType === 3 && n.textContent.trim()))
            .map((el) => { const fg = rgb(getComputedStyle(el).color).slice(0, 3);
              const bg = behind(el); const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
              return {text: el.textContent.trim().slice(0, 60), color: fg, background: bg,
                      ratio: (a + 0.05) / (b + 0.05)}; });
        })()""".replace("SELECTOR", json.dumps(selector))
        return list(self.evaluate(session, script))

    def screenshot(self, session: str, out: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport":
                                                    True}, session=session)["data"]
        out.write_bytes(base64.b64decode(data))

    # -------------------------------------------------------------- lifetime

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
