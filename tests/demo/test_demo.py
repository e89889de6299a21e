"""`botmon demo` brings up server, emulated botnets, crawlers and a sensor; the numbers move."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.demo.helpers import demo_env, free_port

LIVE = ("hns", "linenet", "btdht", "mozi", "zeroaccess", "hajime", "sality")
"""The demo's live botnets: every registered emulator that a plugin crawls."""


def test_demo_runs_the_whole_system_and_feeds_the_server(tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "demo"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "botmon",
            "demo",
            "--dir",
            str(folder),
            "--port",
            str(port),
            "--bots",
            "300",
            "--no-history",
            "--interval",
            "5",
            "--duration",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=demo_env(),
    )
    try:
        output: list[str] = []
        login_url = None
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        for line in process.stdout:
            output.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+/login\?token=\S+)", line)
            if match:
                login_url = match.group(1)
                break
            assert time.monotonic() < deadline, "".join(output)
        assert login_url, "".join(output)
        viewer_token = login_url.split("token=", 1)[1]
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {viewer_token}"}
        seen: dict[str, int] = {}
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not all(seen.get(b) for b in LIVE):
            time.sleep(2)
            now = time.time()
            for botnet in LIVE:
                answer = httpx.get(
                    f"{base}/api/v1/botnets/{botnet}/population",
                    params={"bucket": 3600, "start": now - 7200, "end": now + 60},
                    headers=headers,
                    # The demo's seven emulators, crawlers and sensors share two cores with
                    # the server while it starts; a read may wait longer than a quiet one.
                    timeout=20,
                )
                assert answer.status_code == 200, answer.text
                seen[botnet] = sum(point["replies"] for point in answer.json()["series"])
        # The demo's Hide'n'Seek sensor reports beside the crawlers (the health table's rows).
        rows: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = httpx.get(
                f"{base}/api/v1/stats/monitors",
                params={"window": 3600},
                headers=headers,
                timeout=20,
            )
            assert answer.status_code == 200, answer.text
            rows = [r for r in answer.json()["rows"] if r["kind"] == "sensor"]
            if len(rows) == 3:
                break
            time.sleep(1)
        states = sorted((r["botnet"], r["state"]) for r in rows)
        assert states == [("hajime", "running"), ("hns", "running"), ("mozi", "running")], rows
        # The Mozi crawler reads the emulated bots' signed configuration (verified with the
        # public keys the demo hands it) and the server keeps it.
        configs = httpx.get(
            f"{base}/api/v1/stats/botnets/mozi/configs", headers=headers, timeout=20
        ).json()["configs"]
        assert configs and {c["signatures"] for c in configs} == {"valid"}, configs
        # The demo serves some views publicly: without a token, aggregates only.
        public = httpx.get(f"{base}/api/v1/public/views", timeout=20)
        assert public.status_code == 200, public.text
        assert "hns" in public.text and "overview" in public.text, public.text
        # A network owner's feed (here the viewer's, every network) names the live bots.
        feed = httpx.get(
            f"{base}/api/v1/feeds/infected",
            params={"botnet": "hns", "format": "csv"},
            headers=headers,
            timeout=30,
        )
        assert feed.status_code == 200, feed.text
        header, *bots = feed.text.splitlines()
        assert header.startswith("timestamp,src_ip,src_port"), header
        assert bots and all(",127." in row for row in bots), bots[:3]
        with httpx.Client(base_url=base, timeout=20, follow_redirects=True) as browser:
            page = browser.get(login_url)
            assert page.status_code == 200
            assert "text/html" in page.headers["content-type"]
        # The demo runs for its --duration (60 s from its start), then stops its children within
        # its own bound (15 s, then a kill): wait for both, not for the duration alone.
        rest, _ = process.communicate(timeout=120)
        output.append(rest)
        assert process.returncode == 0, "".join(output)
        for botnet in LIVE:
            assert seen.get(botnet, 0) > 0, (botnet, seen, "".join(output))
        assert "stopped" in "".join(output)
    finally:
        # A failed check must not leave the demo (and its emulators on fixed ports) running:
        # SIGTERM lets it stop its children within its own bound, then a kill.
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
