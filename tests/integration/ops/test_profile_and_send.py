"""On a deployed, registered stack whose client calls back through the relay: the profile contract
(the same one the unit tests run in-process), the profile commands, the trailing-slash paths, and
`onprem send` saying what became of each message (failed with 470 outside the window, delivered
otherwise)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from onprem.api.auth import Credentials
from onprem.api.client import ApiClient
from tests.contracts.profile import check_profile_contract, tiny_png
from tests.integration.ops.conftest import Stack
from tests.integration.relay.stack import inject, relay_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_images: None) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("profile")
    with relay_stack(workdir, f"it-profile-{os.getpid()}", "6315550007") as (deployed, _):
        yield deployed


def api_of(stack: Stack) -> ApiClient:
    secrets = stack.state / "secrets"
    return ApiClient(
        f"https://127.0.0.1:{stack.web_port}",
        ca_file=stack.state / "ca.pem",
        api_key=(secrets / "WA_API_KEY").read_text(),
        credentials=Credentials("admin", (secrets / "WA_ADMIN_PASSWORD").read_text()),
    )


def test_profile_contract_on_the_deployed_emulator(stack: Stack, tmp_path: Path) -> None:
    check_profile_contract(api_of(stack), tmp_path)


def test_profile_and_business_profile_commands(stack: Stack) -> None:
    assert stack.ok("profile", "set-about", "Support 24/7") == {"about": "Support 24/7"}
    (stack.workdir / "logo.png").write_bytes(tiny_png((1, 2, 3)))
    photo = stack.ok("profile", "set-photo", "logo.png")
    assert photo["mime_type"] == "image/png"
    shown = stack.ok("profile", "show")
    assert shown == {"about": "Support 24/7", "photo": photo}
    assert stack.ok("profile", "delete-photo") == {"photo": "deleted"}
    assert stack.ok("profile", "show")["photo"] is None

    done = stack.ok(
        "business-profile", "set", "--email", "ops@example.com", "--website", "https://example.com"
    )
    assert stack.ok("business-profile", "show") == done
    assert done["websites"] == ["https://example.com"]
    three = [arg for n in range(3) for arg in ("--website", f"https://{n}.example.com")]
    refused = stack.run("business-profile", "set", *three)
    assert refused.returncode == 2
    assert "--website given 3 times" in refused.stderr
    assert stack.ok("business-profile", "show") == done


def test_paths_with_a_trailing_slash_answer_as_without(stack: Stack) -> None:
    transport = api_of(stack).transport
    for path, auth in (("/v1/health", "apikey"), ("/v1/settings/application", "bearer")):
        plain = transport.send("GET", path, auth=auth)  # type: ignore[arg-type]
        slashed = transport.send("GET", path + "/", auth=auth)  # type: ignore[arg-type]
        assert (slashed.status_code, slashed.json()) == (plain.status_code, plain.json())
    sent = transport.send(
        "POST", "/v1/contacts/", json={"blocking": "wait", "contacts": ["+16315551234"], "force_check": False}
    )
    assert sent.json()["contacts"][0]["wa_id"] == "16315551234"


def test_send_outside_the_window_fails_with_470_and_suggests_a_template(stack: Stack) -> None:
    done = stack.run("send", "--to", "+16315557001", "--text", "hello?", "--json")
    assert done.returncode == 5, done.stdout + done.stderr
    outcome = json.loads(done.stdout)
    assert (outcome["status"], outcome["code"]) == ("failed", 470)
    assert "--template NAME" in outcome["hint"]
    assert "failed: 470" in done.stderr

    human = stack.run("send", "--to", "+16315557001", "--text", "hello again")
    assert human.returncode == 5
    assert human.stdout.startswith("failed: message gBEG")
    assert "onprem send --to 16315557001 --template NAME" in human.stdout


def test_a_template_and_a_reply_inside_the_window_are_delivered(stack: Stack) -> None:
    template = stack.ok(
        "send", "--to", "+16315557002", "--template", "sample_issue_resolution", "--param", "Kerry"
    )
    assert template["status"] == "delivered"
    assert template["statuses"][:2] == ["sent", "delivered"]

    inject(stack, "16315557003", "is my order on its way?")
    reply = stack.run("send", "--to", "+16315557003", "--text", "yes, tomorrow")
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout.startswith("delivered: message gBEG")
