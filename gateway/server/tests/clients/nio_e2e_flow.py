#!/usr/bin/env python3
"""Two matrix-nio clients with end-to-end encryption (the e2e extra).

Usage: nio_e2e_flow.py BASE_URL STORE_DIR

Alice and Bob register, Alice creates an encrypted private room inviting
Bob, Bob joins, and each sends the other a message that nio encrypts; each
must receive and decrypt the other's. Then Alice sends a plaintext
m.room.message into the same room, raw, through the same client's own
request machinery: a gateway enforcing encryption must refuse it.

Every wait is bounded. The last line on stdout is a JSON summary:
{"client": "matrix-nio", "ok": ..., "steps": [...], "room_id": ...,
 "plaintext": {"status": ..., "body": {...}, "txn": ...}}.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from importlib.metadata import version

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    MegolmEvent,
    RegisterResponse,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomMessageText,
    RoomPutStateResponse,
    RoomSendResponse,
    SyncResponse,
)
from nio.api import Api
from nio.responses import RoomUpgradeResponse

STEP_TIMEOUT_SECS = 30.0


class FlowError(Exception):
    pass


class Flow:
    def __init__(self, base_url: str, store: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.store = store
        self.steps: list[str] = []
        self.clients: list[AsyncClient] = []
        self.summary: dict = {}

    def done(self, name: str, detail: str = "") -> None:
        self.steps.append(name)
        print(f"nio_e2e_flow: ok {name}{': ' + detail if detail else ''}", file=sys.stderr, flush=True)

    async def call(self, name: str, awaitable, expected: type):
        try:
            resp = await asyncio.wait_for(awaitable, STEP_TIMEOUT_SECS)
        except asyncio.TimeoutError:
            raise FlowError(f"{name}: no answer within {STEP_TIMEOUT_SECS:.0f}s") from None
        if not isinstance(resp, expected):
            raise FlowError(f"{name}: {type(resp).__name__}: {getattr(resp, 'status_code', '')} {getattr(resp, 'message', resp)}")
        return resp

    async def user(self, label: str) -> AsyncClient:
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True, request_timeout=STEP_TIMEOUT_SECS, max_timeouts=2)
        client = AsyncClient(self.base_url, "", store_path=self.store, config=config)
        self.clients.append(client)
        localpart = f"e2e-{label}-{secrets.token_hex(5)}"
        resp = await self.call(f"register_{label}", client.register(localpart, secrets.token_urlsafe(16), f"dev-{label}"), RegisterResponse)
        self.done(f"register_{label}", resp.user_id)
        return client

    async def sync(self, client: AsyncClient) -> SyncResponse:
        """One sync, then the key upkeep nio's sync_forever would do."""
        resp = await self.call("sync", client.sync(timeout=1000, since=client.next_batch, full_state=client.next_batch is None), SyncResponse)
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        return resp

    async def sync_until(self, name: str, client: AsyncClient, found):
        deadline = time.monotonic() + STEP_TIMEOUT_SECS
        while time.monotonic() < deadline:
            resp = await self.sync(client)
            result = found(resp)
            if result:
                return result
        raise FlowError(f"{name}: not seen by sync within {STEP_TIMEOUT_SECS:.0f}s")

    async def exchange(self, sender: AsyncClient, receiver: AsyncClient, room_id: str, label: str) -> None:
        text = f"{label} {secrets.token_hex(6)}"
        sent = await self.call(
            f"send_{label}",
            sender.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text}, ignore_unverified_devices=True),
            RoomSendResponse,
        )
        self.done(f"send_{label}", sent.event_id)

        def decrypted(resp: SyncResponse):
            room = resp.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                if event.event_id != sent.event_id:
                    continue
                if isinstance(event, MegolmEvent):
                    raise FlowError(f"receive_{label}: the event arrived but could not be decrypted")
                if isinstance(event, RoomMessageText):
                    return event
            return None

        received = await self.sync_until(f"receive_{label}", receiver, decrypted)
        if received.body != text or not received.decrypted:
            raise FlowError(f"receive_{label}: got {received.body!r} (decrypted={received.decrypted}), want {text!r}")
        self.done(f"receive_{label}", "decrypted")

    async def run(self) -> None:
        alice = await self.user("a")
        bob = await self.user("b")
        for client in (alice, bob):
            await self.sync(client)

        created = await self.call(
            "room_create",
            alice.room_create(
                name="ward 7 (encrypted)",
                invite=[bob.user_id],
                initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
            ),
            RoomCreateResponse,
        )
        room_id = created.room_id
        self.summary["room_id"] = room_id
        self.done("room_create", room_id)

        await self.sync_until("sync_invite", bob, lambda r: room_id in r.rooms.invite)
        await self.call("join", bob.join(room_id), JoinResponse)
        self.done("join")
        await self.sync_until("sync_join", alice, lambda r: bob.user_id in (alice.rooms.get(room_id).users if alice.rooms.get(room_id) else {}))
        await self.sync(bob)
        if not alice.rooms[room_id].encrypted:
            raise FlowError("room_create: nio does not see the room as encrypted")

        await self.exchange(alice, bob, room_id, "alice_to_bob")
        await self.exchange(bob, alice, room_id, "bob_to_alice")

        # nio's own state calls (it drops the slash before an empty state key).
        await self.call("put_topic", alice.room_put_state(room_id, "m.room.topic", {"topic": "rounds at 9"}), RoomPutStateResponse)
        topic = await self.call("get_topic", alice.room_get_state_event(room_id, "m.room.topic"), RoomGetStateEventResponse)
        if topic.content.get("topic") != "rounds at 9":
            raise FlowError(f"get_topic: {topic.content}")
        await self.call("get_power_levels", alice.room_get_state_event(room_id, "m.room.power_levels"), RoomGetStateEventResponse)
        self.done("state_calls")
        refused = await alice.room_put_state(room_id, "m.room.join_rules", {"join_rule": "public"})
        self.summary["public_join_rule"] = {"type": type(refused).__name__, "status": getattr(refused, "status_code", None)}
        self.done("public_join_rule", type(refused).__name__)
        upgraded = await self.call("upgrade", alice.room_upgrade(room_id, "10"), RoomUpgradeResponse)
        self.summary["upgraded_room_id"] = upgraded.room_id
        self.done("upgrade", upgraded.room_id)

        # The same client, in the clear: nio's own request path, no encryption.
        txn = f"plain{secrets.token_hex(8)}"
        method, path, data = Api.room_send(alice.access_token, room_id, "m.room.message", {"msgtype": "m.text", "body": "in the clear"}, txn)
        response = await alice.send(method, path, data, headers={"Content-Type": "application/json"})
        body = await response.json(content_type=None)
        self.summary["plaintext"] = {"status": response.status, "body": body, "txn": txn}
        self.done("plaintext_send", f"{response.status}")

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


async def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    flow = Flow(sys.argv[1], sys.argv[2])
    error = None
    try:
        await flow.run()
    except FlowError as e:
        error = str(e)
    except Exception as e:  # a client-library failure is a failed flow too
        error = f"{type(e).__name__}: {e}"
    finally:
        await flow.close()
    if error:
        print(f"nio_e2e_flow: FAILED: {error}", file=sys.stderr, flush=True)
    summary = {"client": "matrix-nio", "version": version("matrix-nio"), "ok": error is None, "steps": flow.steps, **flow.summary}
    if error:
        summary["error"] = error
    print(json.dumps(summary), flush=True)
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
