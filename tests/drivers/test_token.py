"""The head-end token never shows: not in reprs, errors, dumps or any log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from reconciler import errors
from reconciler.drivers.settings import HeadendSettings
from reconciler.testing import SimulatorHandle
from tests.drivers.helpers import TOKEN, driver_for, settings_for


async def test_the_token_appears_in_no_log_line_repr_or_error(
    simulator: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator.set_faults(fail_next=["error", "throttle"], retry_after_s=0)
    settings = settings_for(simulator)
    async with driver_for(simulator) as driver:
        await driver.inventory()  # retried twice: warnings logged
        shown = [repr(settings), str(settings), settings.model_dump_json(), repr(driver)]
    async with driver_for(simulator, token=TOKEN + "-wrong") as wrong:
        with pytest.raises(errors.AuthenticationError) as caught:
            await wrong.inventory()
    shown += [str(caught.value), repr(caught.value)]
    assert "retrying" in caplog.text
    for text in [caplog.text, *shown]:
        assert TOKEN not in text
    assert settings.token.get_secret_value() == TOKEN


def test_the_token_is_read_from_the_environment() -> None:
    settings = HeadendSettings.from_env(
        {"RECONCILER_HEADEND_URL": "http://h", "RECONCILER_HEADEND_TOKEN": "t-env"}
    )
    assert settings.base_url == "http://h"
    assert settings.token.get_secret_value() == "t-env"


def test_the_token_is_read_from_a_file_without_its_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t-file\n", encoding="utf-8")
    settings = HeadendSettings.from_env(
        {
            "RECONCILER_HEADEND_TOKEN_FILE": str(tmp_path / "token"),
            "RECONCILER_HEADEND_TIMEOUT_S": "2.5",
        },
        base_url="http://h",
    )
    assert settings.token.get_secret_value() == "t-file"
    assert settings.timeout_s == 2.5
