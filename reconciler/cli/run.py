"""``reconciler run``: the daemon, thin over :func:`reconciler.daemon.running.serve`.

Parses the flags into :class:`~reconciler.daemon.settings.DaemonSettings` and
the head-end's settings, sets up logging and serves until SIGTERM or SIGINT
(``docs/daemon.md``).  Every flag also reads ``RECONCILER_<FLAG>`` (``--headend`` reads
``RECONCILER_HEADEND_URL``); the head-end token comes from
RECONCILER_HEADEND_TOKEN, the retry endpoint's from RECONCILER_ADMIN_TOKEN, the
hook's secret from RECONCILER_WEBHOOK_SECRET (or ``--webhook-secret``, which
other users of the host may see in the process list).
Exit 0 after SIGTERM or SIGINT, 1 on a configuration error.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from reconciler.cli import common


@click.command("run", short_help="Watch a config repository; keep the fleet on its branch head.")
@click.option(
    "--repo",
    envvar="RECONCILER_REPO",
    required=True,
    metavar="PATH_OR_URL",
    help="Config repository: a local path (watched) or a URL (cloned, polled).",
)
@click.option("--branch", envvar="RECONCILER_BRANCH", default="main", show_default=True)
@common.headend_option
@common.state_option
@click.option(
    "--replica-name",
    envvar="RECONCILER_REPLICA_NAME",
    metavar="NAME",
    default=None,
    help="This replica's name in a shared (postgresql://) store (default: the host name).",
)
@click.option(
    "--lease-term",
    "lease_term_s",
    envvar="RECONCILER_LEASE_TERM",
    type=click.FloatRange(min=1.0),
    default=15.0,
    show_default=True,
    help="Seconds a shared store's leader lease and each replica's lease last without renewal.",
)
@click.option(
    "--cache-dir",
    envvar="RECONCILER_CACHE_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where a remote repository is cloned (default: beside a SQLite state file; "
    "~/.cache/reconciler with a postgresql:// store).",
)
@click.option(
    "--report-dir",
    envvar="RECONCILER_REPORT_DIR",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where report.json, REPORT.md and report.html are written.",
)
@click.option(
    "--listen",
    envvar="RECONCILER_LISTEN",
    default="127.0.0.1:9108",
    show_default=True,
    help="HOST:PORT of /metrics, /healthz, /readyz, /api/v1/..., / and /hooks/git.",
)
@click.option(
    "--poll-interval",
    "poll_interval_s",
    envvar=["RECONCILER_POLL_INTERVAL", "RECONCILER_POLL_INTERVAL_S"],
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds between fetches of a remote repository.",
)
@click.option(
    "--readback-interval",
    "readback_interval_s",
    envvar=["RECONCILER_READBACK_INTERVAL", "RECONCILER_READBACK_INTERVAL_S"],
    type=click.FloatRange(min=0.1),
    default=300.0,
    show_default=True,
    help="Seconds between read-backs of live configurations (Mismatch).",
)
@click.option(
    "--log-format",
    envvar="RECONCILER_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@common.reset_options
@click.option(
    "--allowed-hosts",
    envvar="RECONCILER_ALLOWED_HOSTS",
    metavar="HOST[,HOST...]",
    default="",
    help="Host names the HTTP endpoints answer to besides localhost, 127.0.0.1, ::1 and the "
    "listen host ('*': any; '.example.com': a domain).",
)
@click.option(
    "--webhook-secret",
    envvar="RECONCILER_WEBHOOK_SECRET",
    metavar="SECRET",
    default=None,
    help="Secret of POST /hooks/git (GitHub's X-Hub-Signature-256, GitLab's X-Gitlab-Token); "
    "prefer the variable.",
)
def command(
    repo: str,
    branch: str,
    headend: str,
    state_path: common.StateLocationValue,
    replica_name: str | None,
    lease_term_s: float,
    cache_dir: Path | None,
    report_dir: Path,
    listen: str,
    poll_interval_s: float,
    readback_interval_s: float,
    log_format: str,
    max_reset_share: float,
    allow_reset: str | None,
    allowed_hosts: str,
    webhook_secret: str | None,
) -> None:
    """Watch a config repository and keep the fleet on its branch head."""
    from reconciler.daemon import logs, running
    from reconciler.daemon.settings import DaemonSettings

    try:
        settings = DaemonSettings(
            repo=repo,
            branch=branch,
            headend_url=headend,
            state=state_path,
            replica_name=replica_name or None,
            lease_term_s=lease_term_s,
            cache_dir=cache_dir,
            report_dir=report_dir,
            listen=listen,
            poll_interval_s=poll_interval_s,
            readback_interval_s=readback_interval_s,
            log_format=log_format,
            max_reset_share=max_reset_share,
            allow_reset=allow_reset or None,
            allowed_hosts=allowed_hosts,
            webhook_secret=webhook_secret or None,
        )
    except ValidationError as exc:
        common.fail(f"settings: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
    from reconciler.drivers.settings import HeadendSettings

    try:
        headend_settings = HeadendSettings.from_env(base_url=headend)
    except ValidationError as exc:
        first = exc.errors()[0]
        common.fail(
            f"head-end settings: {'.'.join(map(str, first['loc']))}: {first['msg']} "
            "(the token comes from RECONCILER_HEADEND_TOKEN or RECONCILER_HEADEND_TOKEN_FILE, "
            "other settings from RECONCILER_HEADEND_*)"
        )
    except OSError as exc:  # RECONCILER_HEADEND_TOKEN_FILE unreadable
        common.fail(f"head-end token: {exc}")
    logs.setup(settings.log_format)
    from reconciler.errors import StoreError

    try:
        code = asyncio.run(running.serve(settings, headend_settings))
    except (OSError, StoreError) as exc:
        common.fail(str(exc))
    sys.exit(code)
