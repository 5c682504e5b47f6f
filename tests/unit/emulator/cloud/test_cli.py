"""`onprem emulator cloud` from the command line: a running server, and config errors that name the file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from onprem.cli import main
from tests.unit.emulator.cloud.conftest import NUMBER_ID, TOKEN, settings_for


def exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    return int(caught.value.code or 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unknown_setting_names_the_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cloudapi.yaml"
    path.write_text("phone_numbers: []\nwebhook: {}\n")
    assert exit_code(["emulator", "cloud", "--settings", str(path)]) == 2
    assert f"{path}: cloudapi.webhook: unknown key" in capsys.readouterr().err


def test_an_unreadable_token_file_is_named_without_a_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cloudapi.yaml"
    path.write_text(f"tokens: [{{file: {tmp_path / 'missing'}}}]\n")
    assert exit_code(["emulator", "cloud", "--settings", str(path)]) == 2
    assert f"cannot read the access token from {tmp_path / 'missing'}" in capsys.readouterr().err


def test_the_command_serves_the_graph_api_on_the_given_address(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = tmp_path / "cloudapi.json"
    path.write_text(json.dumps(settings.model_dump(mode="json")))
    port = free_port()
    argv = [sys.executable, "-m", "onprem.cli", "emulator", "cloud", "--settings", str(path)]
    process = subprocess.Popen(
        [*argv, "--listen", f"127.0.0.1:{port}"], stderr=subprocess.PIPE, env=os.environ
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v21.0/{NUMBER_ID}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as answer:
                    found = json.loads(answer.read())
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (found["id"], found["platform_type"]) == (NUMBER_ID, "ON_PREMISE")
    assert (Path(settings.database)).stat().st_mode & 0o077 == 0, "the database is private"


def test_with_tls_the_command_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    from onprem.emulator.testing import make_pki

    pki = make_pki(("127.0.0.1",))
    (tmp_path / "tls.crt").write_text(pki.leaf_pem + pki.intermediate_pem)
    (tmp_path / "tls.key").write_text(pki.leaf_key_pem)
    (tmp_path / "root.pem").write_text(pki.root_pem)
    tls = {"cert_file": str(tmp_path / "tls.crt"), "key_file": str(tmp_path / "tls.key")}
    settings = settings_for(tmp_path, tls=tls)
    path = tmp_path / "cloudapi.json"
    path.write_text(json.dumps(settings.model_dump(mode="json")))
    port = free_port()
    argv = [sys.executable, "-m", "onprem.cli", "emulator", "cloud", "--settings", str(path)]
    process = subprocess.Popen(
        [*argv, "--listen", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL, env=os.environ
    )
    try:
        import ssl

        context = ssl.create_default_context(cafile=str(tmp_path / "root.pem"))
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/healthz", timeout=2, context=context
                ) as answer:
                    status = answer.status
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert status == 200


def test_a_taken_address_exits_7_naming_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = tmp_path / "cloudapi.json"
    path.write_text(json.dumps(settings.model_dump(mode="json")))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "onprem.cli", "emulator", "cloud", "--settings", str(path),
             "--listen", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 7
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_sigterm_stops_it_cleanly(tmp_path: Path) -> None:
    import signal

    settings = settings_for(tmp_path)
    path = tmp_path / "cloudapi.json"
    path.write_text(json.dumps(settings.model_dump(mode="json")))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "onprem.cli", "emulator", "cloud", "--settings", str(path),
         "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
