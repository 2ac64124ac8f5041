"""Start `convnet serve` as a child process on a free loopback port and wait until it answers.

Used by the tests and the serving benchmark: they talk to the real server over loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

URL_LINE = re.compile(r"at (http://\S+?)/\s")


class ServerProcess:
    def __init__(self, run_dir, *options: str, env: dict | None = None, timeout: float = 120):
        self.args = [sys.executable, "-m", "convnet", "serve", str(run_dir), "--port", "0", *options]
        self.env, self.timeout = {**os.environ, **(env or {})}, timeout
        self.lines: list[str] = []
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> str:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=self.env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + self.timeout
        while self.url is None or not self._healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"convnet serve exited {self.proc.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"convnet serve did not answer in {self.timeout} s: {self.output()}")
            time.sleep(0.1)
        return self.url

    def stop(self) -> None:
        """Stop the server; afterwards output() holds everything it printed."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.reader is not None:
            self.reader.join(10)        # the rest of its output, up to the pipe's end

    def output(self, last: int | None = 2000) -> str:
        text = "".join(self.lines)
        return text[-last:] if last else text

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            match = URL_LINE.search(line)
            if match and self.url is None:
                self.url = match.group(1)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
