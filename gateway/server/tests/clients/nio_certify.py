#!/usr/bin/env python3
"""matrix-nio (with end-to-end encryption) following the conformance
suite's guided client-certification steps, as a vendor's user would.

Usage: nio_certify.py BASE_URL STORE_DIR USER_ID PASSWORD PEER BLOCKER SETTING_TYPE [--plaintext] [--preview]

Steps: log in; create an encrypted direct chat with PEER; send a text
message; send a message holding a link; send an image (uploaded encrypted);
set the invite permissions (SETTING_TYPE, gematik format) to block all but
PEER; invite BLOCKER (refused by the server; not retried).

Scripted misbehaviour, for the tests that the suite catches it:
  --plaintext  the text message is sent in the clear, raw, through nio's own
               request machinery;
  --preview    the link is followed by a URL-preview request.

Every wait is bounded. The last line on stdout is a JSON summary:
{"client": "matrix-nio", "ok": ..., "steps": [...], "room_id": ...}.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import struct
import sys
import zlib
from importlib.metadata import version
from urllib.parse import quote

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    RoomCreateResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)
from nio.api import Api

STEP_TIMEOUT_SECS = 30.0
LINK = "https://example.org/conformance"


class FlowError(Exception):
    pass


def tiny_png() -> bytes:
    """A 1x1 PNG, made here."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


class Flow:
    def __init__(self, args: list[str], flags: set[str]) -> None:
        self.base_url, self.store, self.user_id, self.password, self.peer, self.blocker, self.setting_type = args
        self.base_url = self.base_url.rstrip("/")
        self.flags = flags
        self.steps: list[str] = []
        self.summary: dict = {}
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True, request_timeout=STEP_TIMEOUT_SECS, max_timeouts=2)
        self.client = AsyncClient(self.base_url, self.user_id, store_path=self.store, config=config)

    def done(self, name: str, detail: str = "") -> None:
        self.steps.append(name)
        print(f"nio_certify: ok {name}{': ' + detail if detail else ''}", file=sys.stderr, flush=True)

    async def call(self, name: str, awaitable, expected: type):
        try:
            resp = await asyncio.wait_for(awaitable, STEP_TIMEOUT_SECS)
        except asyncio.TimeoutError:
            raise FlowError(f"{name}: no answer within {STEP_TIMEOUT_SECS:.0f}s") from None
        if not isinstance(resp, expected):
            raise FlowError(f"{name}: {type(resp).__name__}: {getattr(resp, 'status_code', '')} {getattr(resp, 'message', resp)}")
        return resp

    async def sync(self) -> None:
        client = self.client
        await self.call("sync", client.sync(timeout=500, since=client.next_batch, full_state=client.next_batch is None), SyncResponse)
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())

    async def raw(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        response = await self.client.send(method, path, data, headers=headers)
        return response.status, await response.json(content_type=None)

    async def send(self, room_id: str, content: dict) -> None:
        await self.call("send", self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True), RoomSendResponse)

    async def run(self) -> None:
        client = self.client
        await self.call("login", client.login(self.password, device_name="nio-certify"), LoginResponse)
        self.done("login")
        await self.sync()

        created = await self.call(
            "create_direct_chat",
            client.room_create(
                is_direct=True,
                invite=[self.peer],
                initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
            ),
            RoomCreateResponse,
        )
        room_id = created.room_id
        self.summary["room_id"] = room_id
        self.done("create_direct_chat", room_id)
        await self.sync()

        text = {"msgtype": "m.text", "body": f"hello {secrets.token_hex(4)}"}
        if "--plaintext" in self.flags:
            method, path, data = Api.room_send(client.access_token, room_id, "m.room.message", text, f"plain{secrets.token_hex(8)}")
            response = await client.send(method, path, data, headers={"Content-Type": "application/json"})
            self.summary["plaintext_status"] = response.status
            self.done("send_message", f"in the clear: {response.status}")
        else:
            await self.send(room_id, text)
            self.done("send_message")

        await self.send(room_id, {"msgtype": "m.text", "body": f"see {LINK}"})
        self.done("send_link")
        if "--preview" in self.flags:
            status, _ = await self.raw("GET", f"/_matrix/client/v1/media/preview_url?url={quote(LINK, safe='')}")
            self.summary["preview_status"] = status
            self.done("preview", str(status))

        image = tiny_png()
        uploaded, keys = await client.upload(lambda *_: io.BytesIO(image), content_type="image/png", filename="scan.png", encrypt=True, filesize=len(image))
        if not isinstance(uploaded, UploadResponse):
            raise FlowError(f"upload: {uploaded}")
        await self.send(room_id, {"msgtype": "m.image", "body": "scan.png", "info": {"mimetype": "image/png", "size": len(image)},
                                  "file": {"url": uploaded.content_uri, **keys}})
        self.done("send_image", uploaded.content_uri)

        setting = {"defaultSetting": "block all", "userExceptions": {self.peer: {}}}
        status, body = await self.raw("PUT", f"/_matrix/client/v3/user/{quote(self.user_id, safe='')}/account_data/{self.setting_type}", setting)
        if status != 200:
            raise FlowError(f"set_invite_permissions: {status} {body}")
        self.done("set_invite_permissions")

        refused = await client.room_invite(room_id, self.blocker)
        self.summary["invite_refused"] = {"type": type(refused).__name__, "status": getattr(refused, "status_code", None)}
        self.done("invite_refused", type(refused).__name__)


async def main() -> int:
    flags = {arg for arg in sys.argv[1:] if arg.startswith("--")}
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    if len(args) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    flow = Flow(args, flags)
    error = None
    try:
        await flow.run()
    except FlowError as e:
        error = str(e)
    except Exception as e:  # a client-library failure is a failed flow too
        error = f"{type(e).__name__}: {e}"
    finally:
        await flow.client.close()
    if error:
        print(f"nio_certify: FAILED: {error}", file=sys.stderr, flush=True)
    summary = {"client": "matrix-nio", "version": version("matrix-nio"), "ok": error is None, "steps": flow.steps, **flow.summary}
    if error:
        summary["error"] = error
    print(json.dumps(summary), flush=True)
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
