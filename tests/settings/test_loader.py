"""The one settings loader: every setting documented, one error style, env precedence."""

from __future__ import annotations

from typing import Annotated, ClassVar

import pytest

from botmon.settings import (
    SECTIONS,
    ClientSettings,
    CrawlSettings,
    ServerSettings,
    Settings,
    SettingsError,
    leaves,
    load,
    setting,
)


def undocumented(cls: type[Settings]) -> list[str]:
    return [leaf.name for leaf in leaves(cls) if len(leaf.description.split()) < 3]


def test_every_setting_has_a_documented_reason() -> None:
    missing = [name for cls in SECTIONS for name in undocumented(cls)]
    assert missing == []
    names = [leaf.env for cls in SECTIONS for leaf in leaves(cls)]
    assert len(names) == len(set(names)), "two settings share one variable"


def test_the_docs_check_catches_a_field_without_a_reason() -> None:
    class Bare(Settings, frozen=True, kw_only=True):
        section: ClassVar[str] = "bare"
        told: Annotated[int, setting("Why this exists, in words.", ge=0)] = 1
        silent: int = 2

    assert undocumented(Bare) == ["bare.silent"]


def test_variables_follow_the_naming_scheme_and_keep_botmon_db() -> None:
    env = {leaf.name: leaf.env for cls in SECTIONS for leaf in leaves(cls)}
    assert env["server.db"] == "BOTMON_DB"
    assert env["server.port"] == "BOTMON_SERVER_PORT"
    assert env["crawl.queues.discovery_capacity"] == "BOTMON_CRAWL_QUEUES_DISCOVERY_CAPACITY"
    assert env["sim.hns.bots"] == "BOTMON_SIM_HNS_BOTS"
    assert env["client.batch_size"] == "BOTMON_CLIENT_BATCH_SIZE"


def test_option_beats_environment_beats_default() -> None:
    env = {"BOTMON_SERVER_PORT": "9001", "BOTMON_SERVER_HOST": "::1", "BOTMON_DB": "x.duckdb"}
    settings, sources = load(ServerSettings, options={"host": "127.0.0.2"}, env=env)
    assert (settings.port, sources["port"]) == (9001, "env")
    assert (settings.host, sources["host"]) == ("127.0.0.2", "option")
    assert (settings.db, sources["db"]) == ("x.duckdb", "env")
    assert (settings.store_threads, sources["store_threads"]) == (4, "default")


def test_variables_are_parsed_by_the_setting_type() -> None:
    env = {
        "BOTMON_CRAWL_RETRY_TIMEOUTS": "2, 4,8",
        "BOTMON_CRAWL_SCOPE": "127.0.0.0/8,192.0.2.0/24",
        "BOTMON_CRAWL_PORT": "6001",
    }
    s = load(CrawlSettings, env=env).settings
    assert s.retry.timeouts == (2.0, 4.0, 8.0)
    assert s.scope == ("127.0.0.0/8", "192.0.2.0/24")
    assert s.port == 6001
    server = load(ServerSettings, env={"BOTMON_SERVER_INGEST_WORKERS": "none"}).settings
    assert server.ingest_workers is None
    flag = load(ServerSettings, env={"BOTMON_SERVER_WRITE_SERVER_FILE": "false"}).settings
    assert flag.write_server_file is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BOTMON_CLIENT_BATCH_SIZE": "0"},
            "client.batch_size: must be >= 1 (got 0 from BOTMON_CLIENT_BATCH_SIZE); "
            "set with BOTMON_CLIENT_BATCH_SIZE",
        ),
        (
            {"BOTMON_CLIENT_FLUSH_INTERVAL_S": "soon"},
            "client.flush_interval_s: not a number (got 'soon' from "
            "BOTMON_CLIENT_FLUSH_INTERVAL_S); set with BOTMON_CLIENT_FLUSH_INTERVAL_S",
        ),
        (
            {"BOTMON_CLIENT_RETRY_BASE_S": "5", "BOTMON_CLIENT_RETRY_MAX_S": "1"},
            "client.retry_max_s: must be at least retry_base_s (5.0) (got 1.0 from "
            "BOTMON_CLIENT_RETRY_MAX_S)",
        ),
    ],
)
def test_a_bad_variable_is_one_line_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load(ClientSettings, env=env)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_a_bad_option_names_its_option() -> None:
    with pytest.raises(SettingsError) as info:
        load(ServerSettings, options={"port": 70000}, env={})
    assert str(info.value) == (
        "server.port: must be <= 65535 (got 70000); set with --port or BOTMON_SERVER_PORT"
    )


def test_secrets_never_appear_in_errors() -> None:
    from botmon.settings import SensorSettings

    with pytest.raises(SettingsError) as info:
        load(SensorSettings, env={"BOTMON_SENSOR_TOKEN": "short-secret"})
    assert "short-secret" not in str(info.value)
    assert str(info.value).startswith("sensor.token: needs 16+ chars (got ***")


def test_unknown_option_keys_are_a_programming_error() -> None:
    with pytest.raises(KeyError):
        load(ServerSettings, options={"prot": 1}, env={})
