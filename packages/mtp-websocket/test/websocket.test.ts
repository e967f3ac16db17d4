/** The R-WS requirements, one by one, against real `ws` peers on loopback. */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { createPki, tlsOptions } from "@x/test-certs";
import { decodeRecord } from "@x/usp-record";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  createWebSocketMtp,
  eidFromRequestTarget,
  encodeEidQueryValue,
  endpointIdsFromSubjectAltName,
  formatUspExtension,
  parseExtensions,
  tr369VerifyPeer,
  type WebSocketMtp,
  withEidQuery,
} from "../src/index.js";
import { Cleanup, collect, FakeScheduler, freePort, getRecord, until } from "./helpers.js";

const AGENT = "proto::agent";
const CONTROLLER = "proto::controller";
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function controllerServer(
  extra: Partial<Parameters<typeof createWebSocketMtp>[0]> = {},
): Promise<WebSocketMtp> {
  const mtp = cleanup.mtp(
    createWebSocketMtp({ role: "controller", endpointId: CONTROLLER, listen: { port: 0 }, ...extra }),
  );
  await mtp.open();
  return mtp;
}

function agentClient(
  url: string,
  extra: Partial<Parameters<typeof createWebSocketMtp>[0]> = {},
): WebSocketMtp {
  return cleanup.mtp(
    createWebSocketMtp({
      role: "agent",
      endpointId: AGENT,
      peers: [
        {
          url,
          endpointId: CONTROLLER,
          retry: { minimumWaitInterval: 0.05, intervalMultiplier: 2000, maxInterval: 0.2 },
        },
      ],
      ...extra,
    }),
  );
}

/** A bare `ws` server (not our MTP) on loopback. */
async function bareServer(
  options: ConstructorParameters<typeof WebSocketServer>[0] = {},
): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, ...options });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
    undefined,
  );
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/usp` };
}

/** A bare `ws` client; resolves when open (or rejects with the handshake error). */
function bareClient(
  url: string,
  protocols: string[] | undefined,
  options: WebSocket.ClientOptions = {},
): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
  cleanup.add(() => ws.terminate(), undefined);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

describe("eid query parameter (R-WS.10b, R-WS.10c)", () => {
  it("percent-encodes everything outside the unreserved set, % as %25", () => {
    expect(encodeEidQueryValue("doc::agent%21")).toBe("doc%3A%3Aagent%2521");
    expect(encodeEidQueryValue("os::012345-OBUSPA-0001")).toBe("os%3A%3A012345-OBUSPA-0001");
    expect(withEidQuery("ws://h/usp", "a::b")).toBe("ws://h/usp?eid=a%3A%3Ab");
    expect(withEidQuery("ws://h/usp?x=1", "a::b")).toBe("ws://h/usp?x=1&eid=a%3A%3Ab");
  });

  it("decodes exactly once and keeps + as +", () => {
    expect(eidFromRequestTarget("/usp?eid=doc%3A%3Aagent%2521")).toBe("doc::agent%21");
    expect(eidFromRequestTarget("/usp?x=1&eid=a+b")).toBe("a+b");
    expect(eidFromRequestTarget("/usp")).toBeUndefined();
    expect(() => eidFromRequestTarget("/usp?eid=%zz")).toThrow(URIError);
  });

  it("round-trips any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 60 }), (s) => {
        expect(eidFromRequestTarget(`/usp?${withEidQuery("", s).slice(1)}`)).toBe(s);
      }),
      { numRuns: 300 },
    );
  });

  it("the server learns an Endpoint ID containing % from eid, decoded once", async () => {
    const server = await controllerServer();
    const seen = collect(server);
    const agent = agentClient(server.url as string, { endpointId: "proto::agent%21" });
    await agent.open();
    const peer = await until("peerConnected", () => seen.connected[0]);
    expect(peer.endpointId).toBe("proto::agent%21");
    const connect = await until("Connect Record", () => seen.records[0]);
    expect(connect.fromId).toBe("proto::agent%21");
  });
});

describe("bbf-usp-protocol extension (R-WS.10a, R-WS.11a-c)", () => {
  it("parses and formats the header", () => {
    expect(formatUspExtension("self::ctrl")).toBe('bbf-usp-protocol; eid="self::ctrl"');
    expect(parseExtensions('bbf-usp-protocol; eid="os::0-1"')).toEqual({
      uspEid: "os::0-1",
      hasUsp: true,
      rest: "",
    });
    expect(parseExtensions("permessage-deflate, bbf-usp-protocol; eid=x")).toEqual({
      uspEid: "x",
      hasUsp: true,
      rest: "permessage-deflate",
    });
    expect(parseExtensions(undefined).hasUsp).toBe(false);
  });

  it("connects to a server that sends the extension unasked (as OB-USP-Agent does) and learns its eid", async () => {
    const { wss, url } = await bareServer({ handleProtocols: () => "v1.usp" });
    wss.on("headers", (h) =>
      h.push('Sec-WebSocket-Extensions: bbf-usp-protocol; eid="os::012345-OBUSPA-0001"'),
    );
    const first = new Promise<{ data: Buffer; isBinary: boolean; url: string }>((resolve) =>
      wss.on("connection", (ws, req) =>
        ws.once("message", (data, isBinary) =>
          resolve({ data: data as Buffer, isBinary, url: req.url ?? "" }),
        ),
      ),
    );
    const agent = cleanup.mtp(createWebSocketMtp({ role: "agent", endpointId: AGENT, peers: [{ url }] }));
    const seen = collect(agent);
    await agent.open();
    expect(seen.connected[0]?.endpointId).toBe("os::012345-OBUSPA-0001");
    const msg = await first;
    expect(msg.isBinary).toBe(true);
    expect(msg.url).toBe("/usp?eid=proto%3A%3Aagent");
    const record = decodeRecord(msg.data);
    expect(record.recordType?.$case).toBe("websocketConnect");
    expect(record.toId).toBe("os::012345-OBUSPA-0001");
  });

  it("refuses a server whose extension eid is not the configured peer", async () => {
    const { wss, url } = await bareServer({ handleProtocols: () => "v1.usp" });
    wss.on("headers", (h) => h.push('Sec-WebSocket-Extensions: bbf-usp-protocol; eid="self::someone-else"'));
    const agent = agentClient(url);
    const seen = collect(agent);
    void agent.open().catch(() => undefined);
    const error = await until("EID mismatch", () =>
      seen.errors.find((e) => e.code === "ERR_WS_EID_MISMATCH"),
    );
    expect(error.message).toMatch(/someone-else/);
    expect(agent.connectedPeers).toEqual([]);
  });

  it("our server answers the extension only when offered", async () => {
    const server = await controllerServer();
    const upgrade = (offer: boolean) =>
      new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request(
          `${(server.url as string).replace("ws:", "http:")}?eid=proto%3A%3Aa${offer ? "1" : "2"}`,
          {
            headers: {
              Connection: "Upgrade",
              Upgrade: "websocket",
              "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
              "Sec-WebSocket-Protocol": "v1.usp",
              ...(offer ? { "Sec-WebSocket-Extensions": 'bbf-usp-protocol; eid="proto::a1"' } : {}),
            },
          },
        );
        req.on("upgrade", (res, socket) => {
          socket.destroy();
          resolve(res);
        });
        req.on("error", reject);
        req.end();
      });
    const offered = await upgrade(true);
    expect(offered.statusCode).toBe(101);
    expect(offered.headers["sec-websocket-protocol"]).toBe("v1.usp");
    expect(offered.headers["sec-websocket-extensions"]).toBe('bbf-usp-protocol; eid="proto::controller"');
    const plain = await upgrade(false);
    expect(plain.headers["sec-websocket-extensions"]).toBeUndefined();
  });
});

describe("subprotocol v1.usp (R-WS.9 to R-WS.12a)", () => {
  it("the server refuses a client without v1.usp", async () => {
    const server = await controllerServer();
    const seen = collect(server);
    await expect(bareClient(`${server.url}?eid=proto%3A%3Ax`, undefined)).rejects.toThrow(/400/);
    await expect(bareClient(`${server.url}?eid=proto%3A%3Ax`, ["v2.usp"])).rejects.toThrow(/400/);
    expect(seen.errors.filter((e) => e.code === "ERR_WS_SUBPROTOCOL")).toHaveLength(2);
    expect(seen.connected).toHaveLength(0);
  });

  it("the client refuses a server that does not select v1.usp, and keeps retrying", async () => {
    const { url } = await bareServer({ handleProtocols: () => false });
    const agent = agentClient(url);
    const seen = collect(agent);
    void agent.open().catch(() => undefined);
    await until(
      "two refused attempts",
      () => seen.errors.filter((e) => e.code === "ERR_WS_SUBPROTOCOL").length >= 2,
    );
    expect(agent.connectedPeers).toEqual([]);
    expect(seen.connected).toHaveLength(0);
    expect(agent.state).toBe("connecting");
  });
});

describe("frames (R-WS.14, R-WS.14a/b, R-WS.16)", () => {
  it("sends binary frames only", async () => {
    const { wss, url } = await bareServer({ handleProtocols: () => "v1.usp" });
    const frames: boolean[] = [];
    wss.on("connection", (ws) => ws.on("message", (_d, isBinary) => frames.push(isBinary)));
    const agent = agentClient(url);
    await agent.open();
    await agent.send(CONTROLLER, getRecord(CONTROLLER, AGENT));
    await until("two frames", () => frames.length >= 2);
    expect(frames).toEqual([true, true]);
  });

  it("accepts a fragmented message", async () => {
    const server = await controllerServer();
    const seen = collect(server);
    const ws = await bareClient(`${server.url}?eid=proto%3A%3Aagent`, ["v1.usp"]);
    const bytes = getRecord(CONTROLLER, AGENT, "fragmented");
    ws.send(bytes.subarray(0, 10), { binary: true, fin: false });
    ws.send(bytes.subarray(10, 30), { binary: true, fin: false });
    ws.send(bytes.subarray(30), { binary: true, fin: true });
    const got = await until("the reassembled Record", () => seen.records[0]);
    expect(Buffer.from(got.bytes).equals(Buffer.from(bytes))).toBe(true);
  });

  it("closes with 1003 on a text frame", async () => {
    const server = await controllerServer();
    const seen = collect(server);
    const ws = await bareClient(`${server.url}?eid=proto%3A%3Aagent`, ["v1.usp"]);
    const closed = closeOf(ws);
    ws.send("not a Record");
    expect((await closed).code).toBe(1003);
    expect(seen.errors.map((e) => e.code)).toContain("ERR_WS_TEXT_FRAME");
  });

  it("closes with the configured code (e.g. 1007, as OB-USP-Agent) on an unparseable Record", async () => {
    const server = await controllerServer({ malformedCloseCode: 1007 });
    const ws = await bareClient(`${server.url}?eid=proto%3A%3Aagent`, ["v1.usp"]);
    const closed = closeOf(ws);
    ws.send(Buffer.from([0xff, 0xff, 0xff]));
    expect((await closed).code).toBe(1007);
  });

  it("drops a Record whose from_id is not the session's peer", async () => {
    const server = await controllerServer();
    const seen = collect(server);
    const ws = await bareClient(`${server.url}?eid=proto%3A%3Aagent`, ["v1.usp"]);
    ws.send(getRecord(CONTROLLER, "proto::intruder", "x"));
    ws.send(getRecord(CONTROLLER, AGENT, "y"));
    await until("the good Record", () => seen.records.length >= 1);
    expect(seen.records.map((r) => r.fromId)).toEqual([AGENT]);
    expect(seen.errors.map((e) => e.code)).toContain("ERR_WS_EID_MISMATCH");
  });

  it("with requireConnectRecord, drops Records that precede the WebSocketConnectRecord (R-MTP.8)", async () => {
    const server = await controllerServer({ requireConnectRecord: true });
    const seen = collect(server);
    const ws = await bareClient(`${server.url}?eid=proto%3A%3Aagent`, ["v1.usp"]);
    ws.send(getRecord(CONTROLLER, AGENT, "too-early"));
    await until("the error", () => seen.errors.find((e) => e.code === "ERR_MTP_CONNECT_RECORD_EXPECTED"));
    expect(seen.records).toHaveLength(0);
  });
});

describe("keep-alive (R-WS.17, R-WS.18)", () => {
  it("closes a session after missed Pongs, keeps one that answers, survives unsolicited Pongs", async () => {
    const clock = new FakeScheduler();
    const server = await controllerServer({
      scheduler: clock,
      listen: { port: 0, keepAlive: { intervalMs: 1000, maxMissedPongs: 2 } },
    });
    const seen = collect(server);
    const silent = await bareClient(`${server.url}?eid=proto%3A%3Asilent`, ["v1.usp"], { autoPong: false });
    const polite = await bareClient(`${server.url}?eid=proto%3A%3Apolite`, ["v1.usp"], { autoPong: false });
    // The polite peer answers each Ping, then sends a Record: when the Record arrives, the Pong did too.
    let acks = 0;
    polite.on("ping", (data) => {
      polite.pong(data);
      polite.send(getRecord(CONTROLLER, "proto::polite", `ack-${++acks}`));
    });
    polite.pong(Buffer.from("unsolicited"));
    const silentClosed = closeOf(silent);
    await until("both sessions", () => seen.connected.length === 2);
    for (let round = 1; round <= 3; round++) {
      clock.fireAll();
      await until(
        `polite Record ${round}`,
        () => seen.records.filter((r) => r.fromId === "proto::polite").length >= round,
      );
    }
    clock.fireAll(); // third interval without a Pong from the silent peer: close
    expect((await silentClosed).code).toBe(1006);
    const lost = await until("peerDisconnected", () =>
      seen.disconnected.find((d) => d.peer.endpointId === "proto::silent"),
    );
    expect(lost.reason?.code).toBe("ERR_WS_KEEPALIVE");
    expect(server.connectedPeers).toEqual(["proto::polite"]);
  });
});

describe("one session per pair of endpoints (R-WS.4)", () => {
  it("reject-new: a second session for a connected eid is refused, the first keeps working", async () => {
    const server = await controllerServer();
    const seen = collect(server);
    const first = agentClient(server.url as string);
    const firstSeen = collect(first);
    await first.open();
    await expect(bareClient(`${server.url}?eid=proto%3A%3Aagent`, ["v1.usp"])).rejects.toThrow(/409/);
    expect(seen.errors.map((e) => e.code)).toContain("ERR_MTP_DUPLICATE_SESSION");
    await server.send(AGENT, getRecord(AGENT, CONTROLLER, "still-here"));
    await until("the Record on the first session", () => firstSeen.records.length >= 1);
  });

  it("replace-old: the newer session wins, the older one is closed", async () => {
    const server = await controllerServer({ duplicateSessionPolicy: "replace-old" });
    const seen = collect(server);
    const older = await bareClient(`${server.url}?eid=proto%3A%3Aagent`, ["v1.usp"]);
    const olderClosed = closeOf(older);
    const newer = await bareClient(`${server.url}?eid=proto%3A%3Aagent`, ["v1.usp"]);
    expect((await olderClosed).code).toBe(1000);
    const got = new Promise<Buffer>((resolve) => newer.once("message", (d) => resolve(d as Buffer)));
    await server.send(AGENT, getRecord(AGENT, CONTROLLER, "to-newer"));
    expect(decodeRecord(await got).toId).toBe(AGENT);
    expect(seen.connected).toHaveLength(2);
  });

  it("a session without eid is bound by its first Record and refused (1008) if that peer is connected", async () => {
    const server = await controllerServer();
    const first = agentClient(server.url as string);
    await first.open();
    const anonymous = await bareClient(server.url as string, ["v1.usp"]);
    const closed = closeOf(anonymous);
    anonymous.send(getRecord(CONTROLLER, AGENT, "dup"));
    expect((await closed).code).toBe(1008);
  });
});

describe("retry back-off (R-WS.19 to R-WS.21) with a fake clock", () => {
  it("waits m·(k/1000)^(n-1) .. m·(k/1000)^n with TR-181 defaults, capped at n=10, reset after success", async () => {
    const port = await freePort();
    const clock = new FakeScheduler();
    let randomValue = 0;
    const agent = cleanup.mtp(
      createWebSocketMtp({
        role: "agent",
        endpointId: AGENT,
        peers: [{ url: `ws://127.0.0.1:${port}/usp`, endpointId: CONTROLLER, keepAlive: { intervalMs: 0 } }],
        scheduler: clock,
        random: () => randomValue,
      }),
    );
    void agent.open().catch(() => undefined);
    const lows: number[] = [];
    for (let n = 1; n <= 12; n++) {
      await until(`retry ${n} scheduled`, () => clock.live === 1);
      lows.push(clock.pending[0]?.delayMs ?? -1);
      expect(agent.retryCounts[`ws://127.0.0.1:${port}/usp`]).toBe(n);
      if (n === 12) break;
      clock.fireAll();
    }
    expect(lows).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 2560, 2560].map((s) => s * 1000));

    // Upper end of the window with random() = 1, after a successful session resets the count.
    randomValue = 1;
    const server = cleanup.mtp(
      createWebSocketMtp({ role: "controller", endpointId: CONTROLLER, listen: { port }, scheduler: clock }),
    );
    await server.open();
    clock.fireAll();
    await until("connected", () => agent.connectedPeers.length === 1);
    expect(agent.retryCounts[`ws://127.0.0.1:${port}/usp`]).toBe(0);
    await server.close({ abrupt: true });
    await until("retry after loss", () => clock.pending.some((p) => !p.cancelled && p.delayMs === 10_000));
    expect(agent.retryCounts[`ws://127.0.0.1:${port}/usp`]).toBe(1);
    expect(agent.state).toBe("reconnecting");
  });
});

describe("TLS (R-WS.22, mTLS, client certificate EID)", async () => {
  const pki = await createPki();

  async function tlsServer(mode: "request" | "require", verifyPeer?: () => void): Promise<WebSocketMtp> {
    const mtp = cleanup.mtp(
      createWebSocketMtp({
        role: "controller",
        endpointId: CONTROLLER,
        listen: {
          port: 0,
          tls: { ...tlsOptions(pki.controller, pki.root), clientCertificate: mode, verifyPeer },
        },
      }),
    );
    await mtp.open();
    return mtp;
  }

  function tlsAgent(
    url: string,
    endpointId: string,
    cert: typeof pki.agent | undefined,
    ca = pki.root.certPem,
  ) {
    return cleanup.mtp(
      createWebSocketMtp({
        role: "agent",
        endpointId,
        peers: [
          {
            url,
            endpointId: CONTROLLER,
            tls: { ca, ...(cert === undefined ? {} : { cert: cert.chainPem, key: cert.keyPem }) },
            retry: { minimumWaitInterval: 0.05, intervalMultiplier: 1000 },
          },
        ],
      }),
    );
  }

  it("accepts a client whose certificate names the eid, and refuses one whose eid differs", async () => {
    const server = await tlsServer("request");
    const seen = collect(server);
    const good = tlsAgent(server.url as string, AGENT, pki.agent);
    await good.open();
    expect(server.connectedPeers).toEqual([AGENT]);
    const liar = tlsAgent(server.url as string, "proto::not-the-agent", pki.agent);
    const liarSeen = collect(liar);
    void liar.open().catch(() => undefined);
    await until("403", () =>
      liarSeen.errors.find((e) => e.code === "ERR_WS_HANDSHAKE" && e.protocolCode === 403),
    );
    expect(seen.errors.map((e) => e.code)).toContain("ERR_WS_EID_MISMATCH");
  });

  it("in request mode accepts a client without certificate; in require mode refuses it", async () => {
    const lenient = await tlsServer("request");
    const anon = tlsAgent(lenient.url as string, AGENT, undefined);
    await anon.open();
    const strict = await tlsServer("require");
    const refused = tlsAgent(strict.url as string, AGENT, undefined);
    const seen = collect(refused);
    void refused.open().catch(() => undefined);
    await until("a failed attempt", () => seen.errors.length > 0);
    expect(strict.connectedPeers).toEqual([]);
  });

  it("verifies the server: an untrusted root is refused; insecureSkipVerify connects and is reported", async () => {
    const server = await tlsServer("request");
    const wrongTrust = tlsAgent(server.url as string, AGENT, undefined, pki.untrustedRoot.certPem);
    const seen = collect(wrongTrust);
    void wrongTrust.open().catch(() => undefined);
    const error = await until("TLS error", () => seen.errors.find((e) => e.code === "ERR_MTP_TLS"));
    expect(error.message).toMatch(/certificate/i);
    const relaxed = cleanup.mtp(
      createWebSocketMtp({
        role: "agent",
        endpointId: AGENT,
        peers: [{ url: server.url as string, tls: { insecureSkipVerify: true } }],
      }),
    );
    const relaxedSeen = collect(relaxed);
    await relaxed.open();
    expect(relaxedSeen.errors.map((e) => e.code)).toContain("ERR_WS_TLS_RELAXED");
  });

  it("runs the verifyPeer hooks on both sides; a refusing client never opens a session", async () => {
    const serverSaw: string[] = [];
    const hooked = cleanup.mtp(
      createWebSocketMtp({
        role: "controller",
        endpointId: CONTROLLER,
        listen: {
          port: 0,
          tls: {
            ...tlsOptions(pki.controller, pki.root),
            clientCertificate: "require",
            verifyPeer: (peer) => {
              serverSaw.push(...endpointIdsFromSubjectAltName(peer.certificate?.subjectaltname));
            },
          },
        },
      }),
    );
    await hooked.open();
    const hookedSeen = collect(hooked);
    const accepted = tlsAgent(hooked.url as string, AGENT, pki.agent);
    await accepted.open();
    expect(serverSaw).toEqual([AGENT]);
    const refusing = cleanup.mtp(
      createWebSocketMtp({
        role: "agent",
        endpointId: "proto::agent-2",
        peers: [
          {
            url: hooked.url as string,
            tls: {
              ...tlsOptions(pki.agent, pki.root),
              verifyPeer: async (peer) => {
                expect(endpointIdsFromSubjectAltName(peer.certificate?.subjectaltname)).toEqual([CONTROLLER]);
                throw new Error("policy says no");
              },
            },
          },
        ],
      }),
    );
    const seen = collect(refusing);
    void refusing.open().catch(() => undefined);
    const error = await until("refusal", () => seen.errors.find((e) => /policy says no/.test(e.message)));
    expect(error.code).toBe("ERR_MTP_TLS");
    // The upgrade request was never sent: the server saw only the first Agent.
    expect(serverSaw).toEqual([AGENT]);
    expect(hookedSeen.connected.map((p) => p.endpointId)).toEqual([AGENT]);
    expect(hooked.connectedPeers).toEqual([AGENT]);
  });
});

describe("TR-369 certificate flow via @x/cert-validate (R-MTP.1 to R-MTP.4)", async () => {
  const pki = await createPki();

  async function server(cert: typeof pki.controller) {
    const mtp = cleanup.mtp(
      createWebSocketMtp({
        role: "controller",
        endpointId: CONTROLLER,
        listen: { port: 0, tls: tlsOptions(cert, pki.root) },
      }),
    );
    await mtp.open();
    return mtp;
  }

  function agent(url: string, time: Date | "none") {
    return cleanup.mtp(
      createWebSocketMtp({
        role: "agent",
        endpointId: AGENT,
        peers: [
          {
            url,
            endpointId: CONTROLLER,
            retry: { minimumWaitInterval: 0.05, intervalMultiplier: 1000 },
            tls: {
              nodeVerification: false,
              verifyPeer: tr369VerifyPeer({ time, anchors: [pki.root.certPem] }),
            },
          },
        ],
      }),
    );
  }

  it("establishes with a Controller certificate naming its Endpoint ID", async () => {
    const s = await server(pki.controller);
    const a = agent(s.url as string, new Date());
    await a.open();
    expect(s.connectedPeers).toEqual([AGENT]);
  });

  it("terminates with an untrusted Controller certificate", async () => {
    const s = await server(pki.untrusted);
    const a = agent(s.url as string, new Date());
    const seen = collect(a);
    void a.open().catch(() => undefined);
    const error = await until("refusal", () => seen.errors.find((e) => e.code === "ERR_MTP_TLS"));
    expect(error.message).toMatch(/verifyPeer/);
    // Refused before the upgrade request: the server never had a session.
    expect(s.connectedPeers).toEqual([]);
    expect(a.connectedPeers).toEqual([]);
  });

  it("R-MTP.2: without accurate time an expired certificate is accepted, with time it is refused", async () => {
    const s = await server(pki.expired);
    const timeless = agent(s.url as string, "none");
    await timeless.open();
    await timeless.close({ abrupt: true });
    const timed = agent(s.url as string, new Date());
    const seen = collect(timed);
    void timed.open().catch(() => undefined);
    await until("refusal", () => seen.errors.find((e) => e.code === "ERR_MTP_TLS"));
  });

  it("refuses nodeVerification: false without a hook", () => {
    expect(() =>
      createWebSocketMtp({
        role: "agent",
        endpointId: AGENT,
        peers: [{ url: "wss://x/usp", tls: { nodeVerification: false } }],
      }),
    ).toThrow(/verifyPeer/);
  });
});

describe("Agent as server (R-WS.6)", () => {
  it("learns an eid-less Controller from its first Record and sends the Connect Record before the answer", async () => {
    const agentServer = cleanup.mtp(
      createWebSocketMtp({ role: "agent", endpointId: AGENT, listen: { port: 0 } }),
    );
    const seen = collect(agentServer);
    await agentServer.open();
    const ws = await bareClient(agentServer.url as string, ["v1.usp"]);
    const frames: Buffer[] = [];
    ws.on("message", (d) => frames.push(d as Buffer));
    ws.send(getRecord(AGENT, CONTROLLER, "hello"));
    const got = await until("the Record", () => seen.records[0]);
    expect(got.fromId).toBe(CONTROLLER);
    await agentServer.send(CONTROLLER, getRecord(CONTROLLER, AGENT, "answer"), { replyTo: got.replyTo });
    await until("two frames", () => frames.length >= 2);
    expect(frames.map((f) => decodeRecord(f).recordType?.$case)).toEqual([
      "websocketConnect",
      "noSessionContext",
    ]);
    expect(agentServer.connectedPeers).toEqual([CONTROLLER]);
  });
});

describe("reconnectNow()", () => {
  it("skips the pending back-off and connects at once", async () => {
    const port = await freePort();
    const clock = new FakeScheduler();
    const agent = cleanup.mtp(
      createWebSocketMtp({
        role: "agent",
        endpointId: AGENT,
        peers: [{ url: `ws://127.0.0.1:${port}/usp`, endpointId: CONTROLLER, keepAlive: { intervalMs: 0 } }],
        scheduler: clock,
      }),
    );
    const opened = agent.open();
    await until("a retry scheduled", () => clock.live === 1);
    const server = cleanup.mtp(
      createWebSocketMtp({ role: "controller", endpointId: CONTROLLER, listen: { port } }),
    );
    await server.open();
    agent.reconnectNow();
    await opened;
    expect(agent.connectedPeers).toEqual([CONTROLLER]);
    expect(clock.live).toBe(0);
  });
});

describe("HTTP surface", () => {
  it("answers 426 to plain HTTP and 404 to another path", async () => {
    const server = await controllerServer();
    const base = (server.url as string).replace("ws:", "http:");
    const status = (url: string) =>
      new Promise<number>((resolve, reject) => {
        http
          .get(url, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on("error", reject);
      });
    expect(await status(base)).toBe(426);
    await expect(
      bareClient(base.replace("http:", "ws:").replace("/usp", "/other"), ["v1.usp"]),
    ).rejects.toThrow(/404/);
  });
});
