"""selfdrive.services.sessions: a web session's life, on a fake clock."""

from __future__ import annotations

import pytest

from selfdrive.core.errors import TooManyAttempts, Unauthenticated, WrongCredentials
from selfdrive.services.auth import LAST_SEEN_EVERY_MS
from selfdrive.services.sessions import IDLE_MS, MAX_AGE_MS, csrf_matches, csrf_token
from tests.services.conftest import RT

pytestmark = pytest.mark.anyio

DAY_S = 24 * 3600
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"


async def test_a_session_ends_after_30_idle_days(rt: RT) -> None:
    runtime, clock, alice = rt
    token, who = await runtime.sessions.sign_in("alice", "alice-password", UA)
    assert (who.kind, who.device_name) == ("web", "Firefox on Linux")
    clock.advance(29 * DAY_S)
    assert (await runtime.sessions.authenticate(token)).device_id == who.device_id
    clock.advance(29 * DAY_S)  # use above moved last_seen_at: still 29 idle days
    await runtime.sessions.authenticate(token)
    clock.advance(IDLE_MS / 1000)
    with pytest.raises(Unauthenticated, match="expired"):
        await runtime.sessions.authenticate(token)
    assert await runtime.auth.list_devices(alice) == []  # and it is gone
    with pytest.raises(Unauthenticated, match="ended or was revoked"):
        await runtime.sessions.authenticate(token)


async def test_last_seen_is_written_at_most_every_five_minutes(rt: RT) -> None:
    runtime, clock, alice = rt
    token, _ = await runtime.sessions.sign_in("alice", "alice-password", UA)
    [before] = await runtime.auth.list_devices(alice)
    clock.advance(LAST_SEEN_EVERY_MS / 1000 - 1)
    await runtime.sessions.authenticate(token)
    [same] = await runtime.auth.list_devices(alice)
    assert same.last_seen_at == before.last_seen_at
    clock.advance(2)
    await runtime.sessions.authenticate(token)
    [later] = await runtime.auth.list_devices(alice)
    assert later.last_seen_at == clock.now_ms()


async def test_a_session_ends_90_days_after_sign_in_however_used(rt: RT) -> None:
    runtime, clock, _ = rt
    token, _ = await runtime.sessions.sign_in("alice", "alice-password", UA)
    for _ in range(4):
        clock.advance(20 * DAY_S)
        await runtime.sessions.authenticate(token)  # day 20, 40, 60, 80
    clock.advance(MAX_AGE_MS / 1000 - 80 * DAY_S)
    with pytest.raises(Unauthenticated, match="expired"):
        await runtime.sessions.authenticate(token)


async def test_a_sign_in_sweeps_ended_sessions(rt: RT) -> None:
    runtime, clock, alice = rt
    await runtime.sessions.sign_in("alice", "alice-password", "")
    _, device = await runtime.auth.create_token("alice", "alice-password", "laptop")
    clock.advance(31 * DAY_S)
    await runtime.sessions.sign_in("alice", "alice-password", "")
    devices = await runtime.auth.list_devices(alice)
    assert [(d.kind, d.name) for d in devices] == [("device", "laptop"), ("web", "Web browser")]
    assert devices[0].id == device.id  # device tokens do not expire


async def test_sessions_and_device_tokens_do_not_stand_in_for_each_other(rt: RT) -> None:
    runtime, _, _ = rt
    session, _ = await runtime.sessions.sign_in("alice", "alice-password", UA)
    token, _ = await runtime.auth.create_token("alice", "alice-password", "laptop")
    with pytest.raises(Unauthenticated):
        await runtime.auth.authenticate(session)
    with pytest.raises(Unauthenticated):
        await runtime.auth.authenticate("sdt_" + session[4:])
    with pytest.raises(Unauthenticated):
        await runtime.sessions.authenticate(token)
    with pytest.raises(Unauthenticated):
        await runtime.sessions.authenticate("sds_" + token[4:])


async def test_wrong_passwords_count_with_device_tokens(rt: RT) -> None:
    runtime, _, _ = rt
    with pytest.raises(WrongCredentials):
        await runtime.sessions.sign_in("nobody", "alice-password", UA)
    for _ in range(5):
        with pytest.raises(WrongCredentials):
            await runtime.sessions.sign_in("alice", "wrong-password", UA)
        with pytest.raises(Unauthenticated):
            await runtime.auth.create_token("ALICE", "wrong-password", "x")
    with pytest.raises(TooManyAttempts):
        await runtime.sessions.sign_in("alice", "alice-password", UA)


async def test_sign_out_everywhere(rt: RT) -> None:
    runtime, _, alice = rt
    _, one = await runtime.sessions.sign_in("alice", "alice-password", UA)
    await runtime.sessions.sign_in("alice", "alice-password", UA)
    await runtime.auth.create_token("alice", "alice-password", "laptop")
    assert await runtime.sessions.sign_out_everywhere(one, devices=False) == 2
    assert [d.kind for d in await runtime.auth.list_devices(alice)] == ["device"]
    assert await runtime.sessions.sign_out_everywhere(one, devices=True) == 1
    assert await runtime.auth.list_devices(alice) == []


def test_the_csrf_token_belongs_to_its_session() -> None:
    a, b = "sds_" + "a" * 43, "sds_" + "b" * 43
    assert csrf_token(a) == csrf_token(a) != csrf_token(b)
    assert csrf_matches(a, csrf_token(a)) and not csrf_matches(b, csrf_token(a))
    assert not csrf_matches(a, "") and not csrf_matches(a, "é" + csrf_token(a)[1:])
