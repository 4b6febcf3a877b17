"""Credentials in a remote repository's URL never reach the disk, the logs or an error.

A real git server over HTTP on loopback (``git http-backend`` behind a small
server that demands Basic authentication) serves a bare repository; the
daemon's :class:`~reconciler.daemon.watching.Watcher` clones and fetches it
through ``http://USER:TOKEN@127.0.0.1:PORT/config.git``.  Afterwards no file
under the state directory holds the token (nor its base64 form), and the
cache's config names the URL without it.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from reconciler.daemon import watching
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.watching import GitError, Watcher, split_credentials
from tests.daemon.conftest import GIT_USER, git

USER = "deploy"
TOKEN = "glpat-s3cr3t-T0KEN"


class GitHandler(BaseHTTPRequestHandler):
    """Smart HTTP through ``git http-backend`` (CGI), for requests with the right Basic credentials."""

    root: Path
    expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_USER": USER,
            "REMOTE_ADDR": "127.0.0.1",
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=True
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
        status = next((v.strip() for k, v in headers if k.lower() == "status"), "200 OK")
        self.send_response(int(status.split()[0]))
        for name, value in headers:
            if name.lower() != "status":
                self.send_header(name, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository with one commit on main, as a git host keeps it."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("config\n")
    git(work, "add", "-A")
    git(work, *GIT_USER, "commit", "-qm", "first")
    served = tmp_path / "served"
    served.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(work), str(served / "config.git"))
    return work


@pytest.fixture
def server(tmp_path: Path, origin: Path) -> Iterator[str]:
    """``http://127.0.0.1:PORT``: the served repositories, Basic auth required."""
    handler = type("Handler", (GitHandler,), {"root": tmp_path / "served"})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def watcher(tmp_path: Path, url: str) -> Watcher:
    settings = DaemonSettings(
        repo=url,
        headend_url="http://127.0.0.1:1",
        state=tmp_path / "state" / "state.db",
        report_dir=tmp_path / "report",
    )
    return Watcher(settings, wake=lambda: None)


def files_holding(folder: Path, *needles: str) -> list[str]:
    """Every file under ``folder`` whose bytes contain one of ``needles``."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and any(n.encode() in path.read_bytes() for n in needles):
            found.append(str(path.relative_to(folder)))
    return found


def leaked_forms() -> tuple[str, str]:
    return TOKEN, base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()


def test_clone_and_fetch_send_the_token_but_no_file_holds_it(
    tmp_path: Path, origin: Path, server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    served = tmp_path / "served" / "config.git"
    watch = watcher(tmp_path, f"http://{USER}:{TOKEN}@{server[len('http://') :]}/config.git")
    assert watch.refresh() == git(served, "rev-parse", "main")  # the server demands the token
    (origin / "README").write_text("changed\n")
    git(origin, *GIT_USER, "commit", "-qam", "second")
    git(origin, "push", "-q", str(served), "main")
    assert watch.refresh() == git(served, "rev-parse", "main")  # fetches send it too

    state = tmp_path / "state"
    assert files_holding(state, *leaked_forms()) == []
    assert git(watch.path, "config", "remote.origin.url") == f"{server}/config.git"
    assert TOKEN not in caplog.text
    assert os.stat(watch.path.parent).st_mode & 0o777 == 0o700


def test_without_the_token_the_server_refuses_and_no_error_shows_it(
    tmp_path: Path, server: str
) -> None:
    with pytest.raises(GitError) as refused:
        watcher(tmp_path, f"{server}/config.git").refresh()
    assert "config.git" in str(refused.value)
    wrong = watcher(tmp_path / "wrong", f"http://{USER}:not-{TOKEN}@{server[7:]}/config.git")
    with pytest.raises(GitError) as refused:
        wrong.refresh()
    assert TOKEN not in str(refused.value)
    assert files_holding(tmp_path / "wrong", *leaked_forms()) == []


def test_an_unreachable_host_leaves_no_token_on_disk_or_in_the_error(tmp_path: Path) -> None:
    watch = watcher(tmp_path, f"https://{USER}:{TOKEN}@127.0.0.1:1/x.git")
    with pytest.raises(GitError) as failed:
        watch.refresh()
    assert TOKEN not in str(failed.value)
    assert files_holding(tmp_path, *leaked_forms()) == []


def test_a_cache_an_earlier_release_cloned_with_the_token_is_replaced(
    tmp_path: Path, server: str
) -> None:
    url = f"http://{USER}:{TOKEN}@{server[len('http://') :]}/config.git"
    old = tmp_path / "state" / "git-cache" / watching._cache_name(url)
    old.mkdir(parents=True)
    (old / "HEAD").write_text("ref: refs/heads/main\n")
    (old / "config").write_text(f'[remote "origin"]\n\turl = {url}\n')
    watch = watcher(tmp_path, url)
    assert watch.path != old
    watch.refresh()
    assert not old.exists()
    assert files_holding(tmp_path / "state", *leaked_forms()) == []


@pytest.mark.parametrize(
    ("url", "clean", "pair"),
    [
        ("https://u:p%40ss@git.example/a/b.git", "https://git.example/a/b.git", "u:p@ss"),
        ("https://TOKEN@git.example:8443/b.git", "https://git.example:8443/b.git", "TOKEN:"),
        ("ssh://git@git.example/b.git", "ssh://git@git.example/b.git", None),
        ("git@git.example:b.git", "git@git.example:b.git", None),
        ("https://git.example/b.git", "https://git.example/b.git", None),
    ],
)
def test_credentials_are_split_from_http_urls_only(url: str, clean: str, pair: str | None) -> None:
    stripped, env = split_credentials(url)
    assert stripped == clean
    if pair is None:
        assert env == {}
        return
    index = int(env["GIT_CONFIG_COUNT"]) - 1
    assert env[f"GIT_CONFIG_KEY_{index}"] == "http.extraHeader"
    header = env[f"GIT_CONFIG_VALUE_{index}"]
    assert base64.b64decode(header.removeprefix("Authorization: Basic ")).decode() == pair
