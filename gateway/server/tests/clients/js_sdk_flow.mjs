#!/usr/bin/env node
// A complete two-user Matrix conversation driven by matrix-js-sdk.
//
// Usage: node js_sdk_flow.mjs BASE_URL [--user-a USER --password-a PW] [--user-b USER --password-b PW] [--verbose]
//
// BASE_URL is the homeserver as clients see it (in the integration tests: the
// gateway in front of Synapse). Users not given are registered fresh through
// the client API (m.login.dummy); given ones are logged in with their password.
//
// Steps: A and B get a session and start syncing, A creates a private room and
// invites B, B sees the invite by sync and joins, A sends a text message and B
// receives it by sync, A uploads a few KB of random bytes and posts them as an
// m.file event, B finds the event by sync, downloads the media through the
// authenticated media API (/_matrix/client/v1/media/download) with its access
// token and checks the bytes.
//
// Every wait is bounded by STEP_TIMEOUT_MS, so a broken server makes the flow
// fail instead of hang. Exits 0 only if every step worked. The last line on
// stdout is a JSON summary: {"client": "matrix-js-sdk", "ok": ..., "steps": [...]}.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const STEP_TIMEOUT_MS = 30_000;
const SYNC_POLL_MS = 5_000;
const MEDIA_SIZE = 4096;
// Hard cap on the whole run, in case something escapes the per-step bounds.
const TOTAL_TIMEOUT_MS = 240_000;

const { values: opts, positionals } = parseArgs({
    allowPositionals: true,
    options: {
        "user-a": { type: "string" },
        "password-a": { type: "string" },
        "user-b": { type: "string" },
        "password-b": { type: "string" },
        verbose: { type: "boolean", default: false },
    },
});

// The SDK logs through console.log/info/debug, which would mix with the JSON
// summary on stdout: send those to stderr with --verbose, drop them otherwise.
// Warnings and errors go to stderr anyway.
for (const method of ["log", "info", "debug", "trace"]) {
    console[method] = opts.verbose ? (...args) => console.error(...args) : () => {};
}

// Imported after the console is redirected, so module-load logging is covered.
const sdk = await import("matrix-js-sdk");
const sdkVersion = JSON.parse(
    readFileSync(new URL("./node_modules/matrix-js-sdk/package.json", import.meta.url), "utf8"),
).version;

class FlowError extends Error {}

const steps = [];

function done(name, detail = "") {
    steps.push(name);
    process.stderr.write(`js_sdk_flow: ok ${name}${detail ? `: ${detail}` : ""}\n`);
}

/** Await `promise` within the step timeout; describe failures with the step name. */
async function call(name, promise) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new FlowError(`${name}: no answer within ${STEP_TIMEOUT_MS / 1000}s`)), STEP_TIMEOUT_MS);
    });
    try {
        return await Promise.race([promise, timeout]);
    } catch (e) {
        if (e instanceof FlowError) throw e;
        throw new FlowError(`${name}: ${describe(e)}`);
    } finally {
        clearTimeout(timer);
    }
}

/**
 * Resolve with the first truthy value of `check()`, evaluated now and after
 * every sync the client completes; fail after STEP_TIMEOUT_MS or if the sync
 * loop reports an error.
 */
function untilSynced(name, client, check) {
    return new Promise((resolve, reject) => {
        const finish = (fn, value) => {
            clearTimeout(timer);
            client.off(sdk.ClientEvent.Sync, onSync);
            fn(value);
        };
        const onSync = (state, _prev, data) => {
            if (state === sdk.SyncState.Error) {
                finish(reject, new FlowError(`${name}: sync failed: ${describe(data?.error)}`));
                return;
            }
            const found = check();
            if (found) finish(resolve, found);
        };
        const timer = setTimeout(
            () => finish(reject, new FlowError(`${name}: not seen by sync within ${STEP_TIMEOUT_MS / 1000}s`)),
            STEP_TIMEOUT_MS,
        );
        client.on(sdk.ClientEvent.Sync, onSync);
        const found = check();
        if (found) finish(resolve, found);
    });
}

/** The event with this id in the live timeline of the room, if B has it yet. */
function findEvent(client, roomId, eventId) {
    const room = client.getRoom(roomId);
    return room?.getLiveTimeline().getEvents().find((ev) => ev.getId() === eventId);
}

/** A one-line description of an SDK, fetch or Matrix error, with its causes. */
function describe(e) {
    if (!e) return "unknown error";
    if (e.errcode) return `${e.httpStatus ?? ""} ${e.errcode}: ${e.data?.error ?? e.message}`.trim();
    if (e.name === "AbortError" || e.name === "TimeoutError") return `request timed out after ${STEP_TIMEOUT_MS / 1000}s`;
    const messages = [];
    for (let cause = e; cause && messages.length < 5; cause = cause.cause) {
        const message = cause.message ?? String(cause);
        if (!messages.includes(message)) messages.push(message);
    }
    return `${e.name ?? "Error"}: ${messages.join(": ")}`;
}

/** A logged-in client for user `label`: a fresh registration or a password login. */
async function session(baseUrl, label, user, password) {
    const anonymous = sdk.createClient({ baseUrl, localTimeoutMs: STEP_TIMEOUT_MS });
    const device = `js-sdk-flow-${label}`;
    let step;
    let creds;
    if (user) {
        step = `login_${label}`;
        creds = await call(
            step,
            anonymous.loginRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user },
                password,
                initial_device_display_name: device,
            }),
        );
    } else {
        step = `register_${label}`;
        creds = await call(
            step,
            anonymous.registerRequest({
                username: `jssdk-${label}-${randomBytes(6).toString("hex")}`,
                password: randomBytes(16).toString("base64url"),
                auth: { type: "m.login.dummy" },
                initial_device_display_name: device,
            }),
        );
    }
    done(step, creds.user_id);
    return sdk.createClient({
        baseUrl,
        userId: creds.user_id,
        deviceId: creds.device_id,
        accessToken: creds.access_token,
        localTimeoutMs: STEP_TIMEOUT_MS,
    });
}

/** Start the sync loop and wait until the initial sync has completed. */
async function startSyncing(name, client) {
    const prepared = untilSynced(name, client, () => client.isInitialSyncComplete());
    await client.startClient({ initialSyncLimit: 10, pollTimeout: SYNC_POLL_MS, lazyLoadMembers: false });
    await prepared;
    done(name);
}

async function run(baseUrl, clients) {
    const alice = await session(baseUrl, "a", opts["user-a"], opts["password-a"]);
    clients.push(alice);
    const bob = await session(baseUrl, "b", opts["user-b"], opts["password-b"]);
    clients.push(bob);

    await startSyncing("initial_sync_a", alice);
    await startSyncing("initial_sync_b", bob);

    const { room_id: roomId } = await call(
        "room_create",
        alice.createRoom({ name: "sectorgate js-sdk flow", preset: sdk.Preset.PrivateChat, visibility: sdk.Visibility.Private }),
    );
    done("room_create", roomId);

    await call("room_invite", alice.invite(roomId, bob.getUserId()));
    done("room_invite", bob.getUserId());

    await untilSynced("sync_invite", bob, () => bob.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite);
    done("sync_invite");

    await call("join", bob.joinRoom(roomId));
    done("join");

    const text = `hello from matrix-js-sdk ${randomBytes(8).toString("hex")}`;
    const { event_id: textEventId } = await call(
        "room_send",
        alice.sendMessage(roomId, { msgtype: sdk.MsgType.Text, body: text }),
    );
    done("room_send", textEventId);

    const received = await untilSynced("sync_message", bob, () => findEvent(bob, roomId, textEventId));
    if (received.getContent().body !== text || received.getSender() !== alice.getUserId()) {
        throw new FlowError(
            `sync_message: got ${received.getSender()}: ${JSON.stringify(received.getContent().body)}, ` +
                `want ${alice.getUserId()}: ${JSON.stringify(text)}`,
        );
    }
    done("sync_message");

    const payload = randomBytes(MEDIA_SIZE);
    const { content_uri: mxc } = await call(
        "upload",
        alice.uploadContent(new Uint8Array(payload), { name: "flow.bin", type: "application/octet-stream" }),
    );
    done("upload", mxc);

    const { event_id: fileEventId } = await call(
        "send_file",
        alice.sendMessage(roomId, { msgtype: sdk.MsgType.File, body: "flow.bin", url: mxc, info: { size: payload.length } }),
    );
    done("send_file", fileEventId);

    const fileEvent = await untilSynced("sync_file", bob, () => findEvent(bob, roomId, fileEventId));
    const fileUrl = fileEvent.getContent().url;
    done("sync_file", fileUrl);

    // Authenticated media: the URL is /_matrix/client/v1/media/download/..., and
    // the request must carry B's access token.
    const httpUrl = bob.mxcUrlToHttp(fileUrl, undefined, undefined, undefined, false, true, true);
    if (!httpUrl?.includes("/_matrix/client/v1/media/download/")) {
        throw new FlowError(`download: unexpected media URL ${httpUrl}`);
    }
    const body = await call(
        "download",
        (async () => {
            const res = await fetch(httpUrl, {
                headers: { Authorization: `Bearer ${bob.getAccessToken()}` },
                signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
            });
            if (!res.ok) throw new FlowError(`download: HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
            return Buffer.from(await res.arrayBuffer());
        })(),
    );
    if (!body.equals(payload)) {
        throw new FlowError(`download: got ${body.length} bytes that differ from the ${payload.length} uploaded`);
    }
    done("download", `${payload.length} bytes match`);
}

async function main() {
    const baseUrl = positionals[0]?.replace(/\/+$/, "");
    if (!baseUrl || positionals.length !== 1) {
        process.stderr.write("usage: js_sdk_flow.mjs BASE_URL [--user-a U --password-a P] [--user-b U --password-b P] [--verbose]\n");
        process.exit(2);
    }
    for (const label of ["a", "b"]) {
        if (!opts[`user-${label}`] !== !opts[`password-${label}`]) {
            process.stderr.write(`--user-${label} and --password-${label} go together\n`);
            process.exit(2);
        }
    }

    const clients = [];
    let error = null;
    const cap = setTimeout(() => {
        report(`whole flow exceeded ${TOTAL_TIMEOUT_MS / 1000}s`);
        process.exit(1);
    }, TOTAL_TIMEOUT_MS);
    try {
        await run(baseUrl, clients);
    } catch (e) {
        error = e instanceof FlowError ? e.message : describe(e);
    } finally {
        clearTimeout(cap);
        for (const client of clients) client.stopClient();
    }
    report(error);
    // Exit explicitly: stopped clients may still hold sockets open for a while.
    process.exit(error ? 1 : 0);
}

function report(error) {
    if (error) process.stderr.write(`js_sdk_flow: FAILED: ${error}\n`);
    const summary = { client: "matrix-js-sdk", version: sdkVersion, ok: !error, steps };
    if (error) summary.error = error;
    process.stdout.write(`${JSON.stringify(summary)}\n`);
}

await main();
