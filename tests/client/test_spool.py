"""The disk spool: order across restarts, crash leftovers, the lock, the byte bound."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from botmon.client.errors import SpoolError, SpoolFull
from botmon.client.spool import Spool

MiB = 1 << 20


def test_batches_come_back_oldest_first_after_a_reopen(tmp_path: Path) -> None:
    s = Spool(tmp_path, 10 * MiB, 10)
    for i in range(5):
        s.write(f"b{i}", b'{"n": %d}' % i, records=1)
    s.close()
    s2 = Spool(tmp_path, 10 * MiB, 10)
    order = []
    while (e := s2.next_to_send()) is not None:
        assert e.replayed
        order.append((e.batch_id, s2.read(e)))
        s2.remove(e)
    assert order == [(f"b{i}", b'{"n": %d}' % i) for i in range(5)]
    assert len(s2) == 0 and s2.total_bytes == 0
    # New batches continue the sequence after the replayed ones.
    e = s2.write("later", b"{}", records=1)
    assert e.seq == 6 and not e.replayed
    s2.close()


def test_an_interrupted_write_leaves_nothing_behind_on_reopen(tmp_path: Path) -> None:
    s = Spool(tmp_path, 10 * MiB, 10)
    s.write("good", b"{}", records=1)
    s.close()
    (tmp_path / "pending" / ".0000000000000002-n1-half.json.tmp").write_bytes(b'{"bot')
    (tmp_path / "pending" / "notes.txt").write_text("not a batch")
    s2 = Spool(tmp_path, 10 * MiB, 10)
    assert [e.batch_id for e in [s2.next_to_send()] if e] == ["good"]
    assert not list((tmp_path / "pending").glob("*.tmp"))
    s2.close()


def test_one_spool_serves_one_client_at_a_time(tmp_path: Path) -> None:
    s = Spool(tmp_path, 10 * MiB, 10)
    with pytest.raises(SpoolError, match="in use by another report client"):
        Spool(tmp_path, 10 * MiB, 10)
    s.close()
    Spool(tmp_path, 10 * MiB, 10).close()


def test_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SpoolError, match="cannot use spool directory"):
        Spool(blocker / "spool", MiB, 10)


def test_a_full_spool_refuses_the_new_batch_and_drops_nothing(tmp_path: Path) -> None:
    s = Spool(tmp_path, MiB, 10)
    body = b"x" * (300 * 1024)
    first = s.write("b0", body, records=3)
    s.write("b1", body, records=3)
    s.write("b2", body, records=3)
    with pytest.raises(SpoolFull):
        s.write("b3", body, records=3)
    assert sorted(p.name.split("-")[-1] for p in (tmp_path / "pending").iterdir()) == [
        "b0.json",
        "b1.json",
        "b2.json",
    ]
    s.remove(first)  # the server took one: room again
    s.write("b3", body, records=3)
    assert len(s) == 3 and s.total_bytes <= MiB
    s.close()


def test_a_full_disk_is_a_full_spool_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Spool(tmp_path, 10 * MiB, 10)
    real_fsync = os.fsync

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(SpoolFull, match="no space left"):
        s.write("b0", b"{}", records=1)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list((tmp_path / "pending").iterdir()) == []
    s.write("b0", b"{}", records=1)
    assert len(s) == 1
    s.close()


def test_rejected_batches_are_kept_with_their_reason_and_bounded(tmp_path: Path) -> None:
    s = Spool(tmp_path, 10 * MiB, rejected_max_files=3)
    for i in range(5):
        e = s.write(f"r{i}", b"{}", records=2)
        s.reject(s.next_to_send() or e, f"HTTP 422: bad {i}")
    kept = s.rejected_files()
    assert [p.name.split("-")[-1] for p in kept] == ["r2.json", "r3.json", "r4.json"]
    assert (kept[-1].parent / f"{kept[-1].name}.reason.txt").read_text() == "HTTP 422: bad 4\n"
    assert len(s) == 0
    s.close()


def test_a_new_spool_is_private_to_its_user(tmp_path: Path) -> None:
    s = Spool(tmp_path / "spool", MiB, 10)
    for d in (s.directory, s.pending_dir, s.rejected_dir):
        assert d.stat().st_mode & 0o077 == 0, oct(d.stat().st_mode)
    s.close()
