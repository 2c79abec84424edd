#!/usr/bin/env python3
"""A complete two-user Matrix conversation driven by matrix-nio.

Usage: nio_flow.py BASE_URL [--user-a USER --password-a PW] [--user-b USER --password-b PW]

BASE_URL is the homeserver as clients see it (in the integration tests: the
gateway in front of Synapse). Users not given are registered fresh through the
client API (m.login.dummy); given ones are logged in with their password.

Steps: A and B get a session, B starts syncing, A creates a private room and
invites B, B sees the invite by sync and joins, A sends a text message and B
receives it by sync, A uploads a few KB of random bytes and posts them as an
m.file event, B finds the event by sync, downloads the media (authenticated
media API) and checks the bytes.

Every step that waits is bounded by STEP_TIMEOUT_SECS, so a broken server makes
the flow fail instead of hang. Exits 0 only if every step worked. The last line
on stdout is a JSON summary: {"client": "matrix-nio", "ok": ..., "steps": [...]}.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import secrets
import sys
import time
from importlib.metadata import version

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    MemoryDownloadResponse,
    RegisterResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMessageFile,
    RoomMessageText,
    RoomSendResponse,
    RoomVisibility,
    SyncResponse,
    UploadResponse,
)

STEP_TIMEOUT_SECS = 30.0
SYNC_POLL_MS = 5000
MEDIA_SIZE = 4096


class FlowError(Exception):
    pass


class Flow:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.steps: list[str] = []
        # Bounded retries: nio otherwise retries timeouts and 429s for a long time.
        self.config = AsyncClientConfig(request_timeout=STEP_TIMEOUT_SECS, max_timeouts=2, max_limit_exceeded=2)
        self.clients: list[AsyncClient] = []

    def done(self, name: str, detail: str = "") -> None:
        self.steps.append(name)
        print(f"nio_flow: ok {name}{': ' + detail if detail else ''}", file=sys.stderr, flush=True)

    async def call(self, name: str, awaitable, expected: type):
        """Await one client call within the step timeout and check the type of
        its response (nio returns error responses instead of raising)."""
        try:
            resp = await asyncio.wait_for(awaitable, STEP_TIMEOUT_SECS)
        except asyncio.TimeoutError:
            raise FlowError(f"{name}: no answer within {STEP_TIMEOUT_SECS:.0f}s") from None
        if isinstance(resp, tuple):  # upload() returns (response, decryption keys)
            resp = resp[0]
        if not isinstance(resp, expected):
            raise FlowError(f"{name}: {type(resp).__name__}: {describe(resp)}")
        return resp

    async def session(self, label: str, user: str | None, password: str | None) -> AsyncClient:
        """A client for a fresh user (registered) or for the given one (logged in)."""
        client = AsyncClient(self.base_url, user or "", config=self.config)
        self.clients.append(client)
        device = f"nio-flow-{label}"
        if user:
            step = f"login_{label}"
            resp = await self.call(step, client.login(password, device_name=device), LoginResponse)
        else:
            step = f"register_{label}"
            localpart = f"nio-{label}-{secrets.token_hex(6)}"
            resp = await self.call(step, client.register(localpart, secrets.token_urlsafe(16), device), RegisterResponse)
        self.done(step, resp.user_id)
        return client

    async def sync_until(self, name: str, client: AsyncClient, found) -> object:
        """Sync `client` incrementally until `found(sync_response)` returns
        something truthy, for at most STEP_TIMEOUT_SECS."""
        deadline = time.monotonic() + STEP_TIMEOUT_SECS
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FlowError(f"{name}: not seen by sync within {STEP_TIMEOUT_SECS:.0f}s")
            poll_ms = int(min(SYNC_POLL_MS, remaining * 1000))
            try:
                resp = await asyncio.wait_for(client.sync(timeout=poll_ms, since=client.next_batch), remaining + 1)
            except asyncio.TimeoutError:
                raise FlowError(f"{name}: sync gave no answer within {STEP_TIMEOUT_SECS:.0f}s") from None
            if not isinstance(resp, SyncResponse):
                raise FlowError(f"{name}: sync failed: {describe(resp)}")
            result = found(resp)
            if result:
                return result

    async def run(self, args: argparse.Namespace) -> None:
        alice = await self.session("a", args.user_a, args.password_a)
        bob = await self.session("b", args.user_b, args.password_b)

        # B's first sync gives the token later syncs continue from.
        await self.call("initial_sync_b", bob.sync(timeout=0, full_state=True), SyncResponse)
        self.done("initial_sync_b")

        created = await self.call(
            "room_create",
            alice.room_create(visibility=RoomVisibility.private, name="sectorgate nio flow"),
            RoomCreateResponse,
        )
        room_id = created.room_id
        self.done("room_create", room_id)

        await self.call("room_invite", alice.room_invite(room_id, bob.user_id), RoomInviteResponse)
        self.done("room_invite", bob.user_id)

        await self.sync_until("sync_invite", bob, lambda r: room_id in r.rooms.invite)
        self.done("sync_invite")

        await self.call("join", bob.join(room_id), JoinResponse)
        self.done("join")

        text = f"hello from nio {secrets.token_hex(8)}"
        sent = await self.call(
            "room_send",
            alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text}),
            RoomSendResponse,
        )
        self.done("room_send", sent.event_id)

        def message_seen(resp: SyncResponse):
            room = resp.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                if isinstance(event, RoomMessageText) and event.event_id == sent.event_id:
                    return event
            return None

        received = await self.sync_until("sync_message", bob, message_seen)
        if received.body != text or received.sender != alice.user_id:
            raise FlowError(f"sync_message: got {received.sender!r}: {received.body!r}, want {alice.user_id!r}: {text!r}")
        self.done("sync_message")

        payload = secrets.token_bytes(MEDIA_SIZE)
        uploaded = await self.call(
            "upload",
            alice.upload(io.BytesIO(payload), content_type="application/octet-stream", filename="flow.bin", filesize=len(payload)),
            UploadResponse,
        )
        self.done("upload", uploaded.content_uri)

        file_event = await self.call(
            "send_file",
            alice.room_send(
                room_id,
                "m.room.message",
                {"msgtype": "m.file", "body": "flow.bin", "url": uploaded.content_uri, "info": {"size": len(payload)}},
            ),
            RoomSendResponse,
        )
        self.done("send_file", file_event.event_id)

        def file_seen(resp: SyncResponse):
            room = resp.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                if isinstance(event, RoomMessageFile) and event.event_id == file_event.event_id:
                    return event
            return None

        file_msg = await self.sync_until("sync_file", bob, file_seen)
        self.done("sync_file", file_msg.url)

        downloaded = await self.call("download", bob.download(mxc=file_msg.url), MemoryDownloadResponse)
        if downloaded.body != payload:
            raise FlowError(f"download: got {len(downloaded.body)} bytes that differ from the {len(payload)} uploaded")
        self.done("download", f"{len(payload)} bytes match")

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


def describe(resp: object) -> str:
    status = getattr(resp, "status_code", None)
    message = getattr(resp, "message", None) or resp
    return f"{status} {message}" if status else str(message)


async def main() -> int:
    parser = argparse.ArgumentParser(description="Two-user Matrix flow with matrix-nio")
    parser.add_argument("base_url", help="homeserver base URL, e.g. http://127.0.0.1:8008")
    for label in ("a", "b"):
        parser.add_argument(f"--user-{label}", help=f"log in as this user instead of registering user {label.upper()}")
        parser.add_argument(f"--password-{label}", help=f"password of --user-{label}")
    args = parser.parse_args()
    for label in ("a", "b"):
        if bool(getattr(args, f"user_{label}")) != bool(getattr(args, f"password_{label}")):
            parser.error(f"--user-{label} and --password-{label} go together")

    flow = Flow(args.base_url)
    error = None
    try:
        await flow.run(args)
    except FlowError as e:
        error = str(e)
    except Exception as e:  # a client-library failure is a failed flow too
        error = f"{type(e).__name__}: {e}"
    finally:
        await flow.close()

    if error:
        print(f"nio_flow: FAILED: {error}", file=sys.stderr, flush=True)
    summary = {"client": "matrix-nio", "version": version("matrix-nio"), "ok": error is None, "steps": flow.steps}
    if error:
        summary["error"] = error
    print(json.dumps(summary), flush=True)
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
