"""Supervisor actions over REST, end to end: the AMI bytes sent, Asterisk's answer, the
state returned (read-your-writes), the audit row; refusals by us send nothing."""

from __future__ import annotations

from tests.api.console.conftest import ALICE, BASE, BOB, EVE, Lab, quoted

NEW_AGENT = "Local/1006@agents/n"


async def test_pause_with_a_reason_is_sent_confirmed_returned_and_audited(lab: Lab) -> None:
    answer = await lab.app.client.post(
        f"{BASE}/operators/{quoted(ALICE)}/pause",
        json={"queue": "sales", "reason": "lunch"},
        headers=lab.auth("supervisor"),
    )
    body = answer.json()
    assert answer.status_code == 200, body
    assert body["success"] is True
    assert body["pending"] is False
    assert body["via"] == "ami"
    assert body["asteriskMessage"] == "Interface paused successfully"
    membership = body["data"]["operator"]["queues"]["sales"]
    assert membership["paused"] is True
    assert membership["pausedReason"] == "lunch"
    (sent,) = lab.proxy.actions("QueuePause")
    assert {k: v for k, v in sent.items() if k != "ActionID"} == {
        "Action": "QueuePause",
        "Interface": ALICE,
        "Paused": "true",
        "Queue": "sales",
        "Reason": "lunch",
    }
    (row,) = await lab.audit("pauseOperator")
    assert row["outcome"] == "ok"
    assert row["role"] == "supervisor"
    assert row["scope"] == "*"
    assert len(row["tokenFingerprint"]) == 8
    assert "sup-token" not in str(row)
    assert row["arguments"] == {"memberId": ALICE, "queue": "sales", "reason": "lunch"}
    assert row["asteriskMessage"] == "Interface paused successfully"
    metrics = (await lab.app.client.get("/metrics")).text
    assert 'queue_status_actions_total{action="pauseOperator",outcome="ok"} 1.0' in metrics


async def test_access_enables_actions_with_ami(lab: Lab) -> None:
    access = await lab.app.client.get(f"{BASE}/access", headers=lab.auth("sales"))
    assert access.json()["data"] == {
        "role": "supervisor",
        "queues": ["sales"],
        "extension": "1009",
        "canSupervise": True,
        "canManageMembers": False,
        "pauseReasons": ["lunch", "training", "coffee"],
        "actionsEnabled": True,
    }


async def test_pause_without_a_queue_pauses_every_queue_of_the_member(lab: Lab) -> None:
    answer = await lab.app.client.post(
        f"{BASE}/operators/{quoted(BOB)}/pause",
        json={"reason": "training"},
        headers=lab.auth("supervisor"),
    )
    assert answer.status_code == 200, answer.json()
    queues = answer.json()["data"]["operator"]["queues"]
    assert {name: q["paused"] for name, q in queues.items()} == {"sales": True, "support": True}
    (sent,) = lab.proxy.actions("QueuePause")
    assert "Queue" not in sent
    unpaused = await lab.app.client.post(
        f"{BASE}/operators/{quoted(BOB)}/unpause", headers=lab.auth("supervisor")
    )
    assert unpaused.status_code == 200, unpaused.json()
    assert not any(q["paused"] for q in unpaused.json()["data"]["operator"]["queues"].values())


async def test_add_penalty_and_remove_a_dynamic_member(lab: Lab) -> None:
    added = await lab.app.client.post(
        f"{BASE}/queues/sales/members",
        json={
            "interface": NEW_AGENT,
            "memberName": "Frank",
            "stateInterface": "Custom:1006",
            "penalty": 2,
        },
        headers=lab.auth("admin"),
    )
    assert added.status_code == 200, added.json()
    assert added.json()["via"] == "ami"
    assert added.json()["data"]["operator"]["queues"]["sales"]["membership"] == "dynamic"
    again = await lab.app.client.post(
        f"{BASE}/queues/sales/members", json={"interface": NEW_AGENT}, headers=lab.auth("admin")
    )
    assert again.status_code == 409
    assert again.json()["asteriskMessage"] == "Unable to add interface: Already there"

    penalty = await lab.app.client.put(
        f"{BASE}/queues/sales/members/{quoted(NEW_AGENT)}/penalty",
        json={"penalty": 5},
        headers=lab.auth("supervisor"),
    )
    assert penalty.status_code == 200, penalty.json()
    assert penalty.json()["data"]["operator"]["queues"]["sales"]["penalty"] == 5

    removed = await lab.app.client.delete(
        f"{BASE}/queues/sales/members/{quoted(NEW_AGENT)}", headers=lab.auth("admin")
    )
    assert removed.status_code == 200, removed.json()
    assert removed.json()["pending"] is False
    assert removed.json()["data"]["operator"] is None
    outcomes = [row["outcome"] for row in await lab.audit("addQueueMember", 2)]
    assert outcomes == ["rejected", "ok"]


async def test_asterisk_refusals_surface_with_its_words(lab: Lab) -> None:
    static = await lab.app.client.delete(
        f"{BASE}/queues/sales/members/{quoted(ALICE)}", headers=lab.auth("admin")
    )
    assert static.status_code == 409
    assert static.json() == {
        "success": False,
        "error": "Asterisk refused QueueRemove: Member not dynamic",
        "asteriskMessage": "Member not dynamic",
    }
    unknown = await lab.app.client.post(
        f"{BASE}/operators/{quoted('PJSIP/9999')}/pause",
        json={"queue": "sales"},
        headers=lab.auth("supervisor"),
    )
    assert unknown.status_code == 404
    assert unknown.json()["asteriskMessage"] == "Interface not found"
    (row,) = await lab.audit("removeQueueMember")
    assert row["outcome"] == "rejected"
    assert row["asteriskMessage"] == "Member not dynamic"
    assert (await lab.operator(ALICE))["queues"]["sales"]["membership"] == "static"


async def test_bad_values_are_refused_before_anything_is_sent(lab: Lab) -> None:
    for body in (
        {"queue": "sales", "reason": "lunch\r\nAction: Logoff"},
        {"queue": "sales", "reason": "gone fishing"},  # not in PAUSE_REASONS
        {"queue": "sales ; drop"},
    ):
        answer = await lab.app.client.post(
            f"{BASE}/operators/{quoted(ALICE)}/pause", json=body, headers=lab.auth("supervisor")
        )
        assert answer.status_code == 400, body
        assert answer.json()["success"] is False
    negative = await lab.app.client.put(
        f"{BASE}/queues/sales/members/{quoted(ALICE)}/penalty",
        json={"penalty": -1},
        headers=lab.auth("supervisor"),
    )
    assert negative.status_code == 400
    assert lab.proxy.actions("QueuePause") == []
    assert lab.proxy.actions("QueuePenalty") == []
    rows = await lab.audit("pauseOperator", 3)
    assert {row["outcome"] for row in rows} == {"refused"}


async def test_role_and_scope_refusals_send_nothing_and_are_audited(lab: Lab) -> None:
    viewer = await lab.app.client.post(
        f"{BASE}/operators/{quoted(ALICE)}/pause",
        json={"queue": "sales"},
        headers=lab.auth("viewer"),
    )
    assert viewer.status_code == 403
    outside = await lab.app.client.post(
        f"{BASE}/operators/{quoted(EVE)}/pause",
        json={"queue": "support"},
        headers=lab.auth("sales"),
    )
    assert outside.status_code == 403
    anonymous = await lab.app.client.post(
        f"{BASE}/operators/{quoted(ALICE)}/pause", json={"queue": "sales"}
    )
    assert anonymous.status_code == 401
    not_admin = await lab.app.client.delete(
        f"{BASE}/queues/sales/members/{quoted(ALICE)}", headers=lab.auth("supervisor")
    )
    assert not_admin.status_code == 403
    assert lab.proxy.actions("QueuePause") == []
    assert lab.proxy.actions("QueueRemove") == []
    rows = await lab.audit("pauseOperator", 3)
    assert [row["outcome"] for row in rows] == ["refused"] * 3
    assert {row["role"] for row in rows} == {None, "viewer", "supervisor"}
    (removal,) = await lab.audit("removeQueueMember")
    assert removal["outcome"] == "refused"


async def test_a_scoped_token_pauses_only_its_queues_of_a_shared_member(lab: Lab) -> None:
    answer = await lab.app.client.post(
        f"{BASE}/operators/{quoted(BOB)}/pause",
        json={"reason": "coffee"},
        headers=lab.auth("sales"),
    )
    assert answer.status_code == 200, answer.json()
    (sent,) = lab.proxy.actions("QueuePause")
    assert sent["Queue"] == "sales"
    assert set(answer.json()["data"]["operator"]["queues"]) == {"sales"}
    support = (await lab.operator(BOB))["queues"]["support"]
    assert support["paused"] is False


async def test_listen_needs_a_call_and_an_extension(lab: Lab) -> None:
    idle = await lab.app.client.post(
        f"{BASE}/operators/{quoted(ALICE)}/listen", json={}, headers=lab.auth("sales")
    )
    assert idle.status_code == 409
    assert "on no call" in idle.json()["error"]
    no_extension = await lab.app.client.post(
        f"{BASE}/operators/{quoted(ALICE)}/listen", json={}, headers=lab.auth("supervisor")
    )
    assert no_extension.status_code == 400
    assert lab.proxy.actions("Originate") == []


async def test_listen_rings_the_supervisor_into_chanspy_on_the_call(lab: Lab) -> None:
    member, channel = await lab.call_in_progress()
    answer = await lab.app.client.post(
        f"{BASE}/operators/{quoted(member)}/listen",
        json={"mode": "WHISPER"},
        headers=lab.auth("sales"),  # its token binds extension 1009
    )
    body = answer.json()
    assert answer.status_code == 200, body
    assert body["pending"] is False  # the simulated phone answers at once: ChanSpyStart
    (sent,) = lab.proxy.actions("Originate")
    assert sent["Channel"] == "PJSIP/1009"
    assert sent["Application"] == "ChanSpy"
    assert sent["Data"] == f"{channel},qw"
    (row,) = await lab.audit("listenToOperator")
    assert row["outcome"] == "ok"
    assert row["arguments"]["mode"] == "WHISPER"


async def test_an_action_path_answers_405_to_other_methods(lab: Lab) -> None:
    for method, path, allow in (
        ("GET", f"/operators/{quoted(ALICE)}/pause", "POST"),
        ("DELETE", f"/queues/sales/members/{quoted(ALICE)}/penalty", "PUT"),
        ("GET", "/queues/sales/members", "POST"),
        ("PATCH", f"/queues/sales/members/{quoted(ALICE)}", "DELETE"),
    ):
        answer = await lab.app.client.request(method, BASE + path, headers=lab.auth("admin"))
        assert answer.status_code == 405, (method, path)
        assert answer.headers["allow"] == allow
    # The documented reads nearby are untouched.
    assert (await lab.operator(ALICE))["memberId"] == ALICE


async def test_a_malformed_member_in_the_path_is_not_found(lab: Lab) -> None:
    answer = await lab.app.client.post(
        f"{BASE}/operators/0/pause", json={"queue": "sales"}, headers=lab.auth("supervisor")
    )
    assert answer.status_code == 404
    assert answer.json()["success"] is False
    (row,) = await lab.audit("pauseOperator")
    assert row["outcome"] == "refused"
    assert lab.proxy.actions("QueuePause") == []
