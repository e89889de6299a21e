"""Configurations at the store, on both backends: hostile config values, the bot list's cap,
the signature status, and concurrent batches carrying the same new configuration."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from botmon.store import configs as store_configs
from botmon.store.base import Store
from botmon.wire import Reply
from tests.store.helpers import NOW, make_batch

DIGEST = "ab" * 32


def _reply(i: int, config: Any, at: float = 0.0, bot: bool = True) -> Reply:
    return Reply(
        timestamp=NOW + at,
        ip=f"127.5.{i >> 8}.{i & 255}",
        port=4000 + i,
        bot_id=f"{i:040x}" if bot else None,
        data={"node_id": f"{i:040x}", "config": config},
    )


def _config(digest: str = DIGEST, version: int = 1, **over: Any) -> dict[str, Any]:
    return {"version": version, "digest": digest, "tags": {"ss": "bot"}} | over


def _write(store: Store, batch_id: str, replies: list[Reply]) -> None:
    assert not store.write_batch(make_batch("mozi", batch_id, replies), "crawler-1").duplicate


def _kinds(store: Store) -> list[str]:
    return sorted(a.kind for a in store.config_alerts())


def test_hostile_config_values_are_dropped_or_trimmed(store: Store) -> None:
    store.create_botnet("mozi")
    tags: dict[str, Any] = {"aaa": "x" * 4000, "aab": 7, "aac": [1], "aad": {"a": 1}}
    tags |= {"aae": None, "aaf": True, "b" * 1000: "long name"}
    tags |= {f"t{n:03}": "v" for n in range(100)}  # beyond the cap on tags
    odd = _config(DIGEST.upper(), tags=tags, signatures="maybe", stop="yes")
    replies = [_reply(0, odd), _reply(1, _config(tags=["not", "an", "object"]))]
    replies += [
        _reply(2 + k, c)
        for k, c in enumerate(
            [
                {"digest": "cd" * 32},
                {"digest": "cd" * 32, "version": 1.5},
                {"digest": "cd" * 32, "version": None},
                {"digest": "zz" * 32, "version": 1},
                {"digest": "cd" * 4, "version": 1},  # too short to name a configuration
                {"digest": ["cd" * 32], "version": 1},
                "config",
                12,
            ]
        )
    ]
    replies.append(
        Reply(timestamp=NOW, ip="127.5.9.9", port=9, data={"note": 'says "config" in text'})
    )
    _write(store, "b1", replies)
    (config,) = store.configs("mozi") or []
    assert config.digest == DIGEST and config.bots == 2
    assert config.signatures == "unchecked" and config.stop is False
    assert len(config.tags) == store_configs.MAX_TAGS
    assert config.tags["aaa"] == "x" * store_configs.MAX_TAG_VALUE and config.tags["aab"] == "7"
    assert not {"aac", "aad", "aae", "aaf"} & config.tags.keys()
    assert config.tags["b" * store_configs.MAX_TAG_NAME] == "long name"
    assert "t099" not in config.tags
    assert _kinds(store) == ["new_config"]
    assert store.count_records("mozi")["replies"] == len(replies)


def test_the_bot_list_is_capped_and_further_sightings_counted(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_configs, "MAX_CONFIG_BOTS", 5)
    store.create_botnet("mozi")
    _write(store, "b1", [_reply(i, _config(), at=i) for i in range(4)])
    _write(store, "b2", [_reply(i, _config(), at=100 + i) for i in range(3, 8)])
    (config,) = store.configs("mozi") or []
    assert (config.bots, config.unlisted_sightings) == (5, 3)
    bots = {b.bot: (b.first_seen, b.last_seen) for b in store.config_bots("mozi", DIGEST)}
    assert len(bots) == 5 and bots[f"{3:040x}"] == (NOW + 3, NOW + 103)
    # A fresh configuration with more bots than the cap in one batch; a bot without an ID
    # is listed by its address.
    other = _config("ef" * 32, 2)
    _write(store, "b3", [_reply(i, other, bot=i != 20) for i in range(20, 27)])
    config = next(c for c in store.configs("mozi") or [] if c.digest == "ef" * 32)
    assert (config.bots, config.unlisted_sightings) == (5, 2)
    assert "127.5.0.20:4020" in {b.bot for b in store.config_bots("mozi", "ef" * 32)}
    assert _kinds(store) == ["new_config", "new_config", "new_version"]


def test_signature_status_keeps_the_most_telling_and_raises_once(store: Store) -> None:
    store.create_botnet("mozi")
    _write(store, "b1", [_reply(0, _config(signatures="unchecked"))])
    _write(store, "b2", [_reply(1, _config(signatures="valid"))])
    assert (store.configs("mozi") or [])[0].signatures == "valid"
    assert _kinds(store) == ["new_config"]
    _write(store, "b3", [_reply(2, _config(signatures="invalid"))])
    _write(store, "b4", [_reply(3, _config(signatures="valid")), _reply(4, _config())])
    _write(store, "b5", [_reply(5, _config(signatures="invalid"))])
    assert (store.configs("mozi") or [])[0].signatures == "invalid"
    assert _kinds(store) == ["bad_signature", "new_config"]
    # A lower version is no new version; a stop order raises at once.
    _write(store, "b6", [_reply(6, _config("01" * 32, 0, stop=True))])
    assert _kinds(store) == ["bad_signature", "new_config", "new_config", "stop_order"]
    assert store.config_stats().stop_orders == {"mozi": True}


def test_concurrent_batches_raise_one_alert_and_count_every_bot(store: Store) -> None:
    store.create_botnet("mozi")
    store.create_botnet("hns")
    new = _config("77" * 32, 5)

    def write(k: int) -> None:
        replies = [_reply(10 * k + i, new, at=k) for i in range(10)] + [_reply(999, new)]
        _write(store, f"c{k}", replies)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(16)))
    (config,) = store.configs("mozi") or []
    assert config.bots == 161 and config.unlisted_sightings == 0
    assert (config.first_seen, config.last_seen) == (NOW, NOW + 15)
    assert _kinds(store) == ["new_config"]
    stats = store.config_stats()
    assert stats.configs == {"mozi": 1} and stats.alerts == {"mozi": {"new_config": 1}}
    assert store.configs("hns") == [] and store.configs("nope") is None
