import tls from "node:tls";
import { createPki, type Pki } from "@x/test-certs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Connection,
  DelimiterFramer,
  InitiateError,
  LengthPrefixFramer,
  LocalEndpoint,
  Preconnection,
  RemoteEndpoint,
  SecurityParameters,
  TransportProperties,
  type TrustContext,
} from "../src/index.js";
import { type OpenSslServer, opensslServer, tempDir } from "./helpers.js";

let pki: Pki;
let dir: ReturnType<typeof tempDir>;
let good: OpenSslServer;
let wrongName: OpenSslServer;

beforeAll(async () => {
  pki = await createPki();
  dir = tempDir();
  const chain = dir.write("intermediate.pem", pki.intermediate.certPem);
  good = await opensslServer({
    cert: dir.write("server.pem", pki.server.certPem),
    key: dir.write("server.key", pki.server.keyPem),
    chain,
  });
  wrongName = await opensslServer({
    cert: dir.write("wrong.pem", pki.wrongName.certPem),
    key: dir.write("wrong.key", pki.wrongName.keyPem),
    chain,
  });
}, 60_000);

afterAll(async () => {
  await good?.stop();
  await wrongName?.stop();
  dir?.remove();
});

function client(port: number, sp: SecurityParameters): Preconnection {
  return new Preconnection({
    remote: new RemoteEndpoint().withHostname("localhost").withPort(port),
    transportProperties: new TransportProperties().require("preserve-msg-boundaries"),
    securityParameters: sp,
  }).addFramer(new DelimiterFramer());
}

async function exchange(conn: Connection, text: string): Promise<string> {
  await conn.send(text);
  const m = await conn.receive();
  return Buffer.from(m.data).toString();
}

describe("TLS against openssl s_server", () => {
  it("with a trusted CA: Ready over tls/tcp, strict verification passes, data flows", async () => {
    const conn = client(good.port, new SecurityParameters().addTrustedCA(pki.root.certPem)).initiate({
      timeout: 15_000,
    });
    await conn.ready;
    expect(conn.protocolStack).toBe("tls/tcp");
    const props = conn.getProperties();
    expect(props.get("_x.peer-authorized")).toBe(true);
    expect(props.get("_x.tls-protocol")).toMatch(/^TLSv1\.[23]$/);
    expect(await exchange(conn, "hello")).toBe("olleh");
    await conn.close();
  });

  it("without a trusted CA: InitiateError (security), never a plaintext fallback", async () => {
    const conn = client(good.port, new SecurityParameters()).initiate({ timeout: 15_000 });
    const error = (await conn.ready.catch((e: unknown) => e)) as InitiateError;
    expect(error).toBeInstanceOf(InitiateError);
    expect(error.reason).toBe("security");
    expect(conn.timeline.filter((e) => e.event === "attempt")).toHaveLength(1);
  });

  it("hostname mismatch with a trusted CA: InitiateError", async () => {
    const conn = client(wrongName.port, new SecurityParameters().addTrustedCA(pki.root.certPem)).initiate({
      timeout: 15_000,
    });
    const error = (await conn.ready.catch((e: unknown) => e)) as InitiateError;
    expect(error).toBeInstanceOf(InitiateError);
    expect(error.reason).toBe("security");
  });

  it("trust verification callback returning true: Ready, and the relaxation is reported", async () => {
    const seen: TrustContext[] = [];
    const sp = new SecurityParameters().setTrustVerificationCallback((ctx) => {
      seen.push(ctx);
      return true;
    });
    const conn = client(good.port, sp).initiate({ timeout: 15_000 });
    const notices: unknown[] = [];
    conn.on("securityNotice", (n) => notices.push(n));
    await conn.ready;
    expect(seen).toHaveLength(1);
    expect(seen[0]!.authorized).toBe(false); // Node does not trust our test root
    expect(seen[0]!.chain[0]!.subject).toContain("localhost");
    expect(seen[0]!.chainDer.length).toBeGreaterThanOrEqual(2);
    expect(notices).toEqual([expect.objectContaining({ kind: "trust-callback-accepted-unverified-peer" })]);
    expect(await exchange(conn, "abc")).toBe("cba");
    await conn.close();
  });

  it("trust verification callback returning false (or throwing): InitiateError", async () => {
    for (const cb of [
      () => false,
      () => Promise.reject(new Error("no")),
      () => {
        throw new Error("boom");
      },
    ]) {
      const conn = client(good.port, new SecurityParameters().setTrustVerificationCallback(cb)).initiate({
        timeout: 15_000,
      });
      const error = (await conn.ready.catch((e: unknown) => e)) as InitiateError;
      expect(error).toBeInstanceOf(InitiateError);
      expect(error.reason).toBe("security");
    }
  });

  it("a callback can pin the certificate on top of strict verification", async () => {
    const pinned = pki.server.fingerprint256;
    const sp = new SecurityParameters()
      .addTrustedCA(pki.root.certPem)
      .setTrustVerificationCallback(
        (ctx) => ctx.authorized && ctx.chain[0]!.fingerprint256.replaceAll(":", "").toLowerCase() === pinned,
      );
    const conn = client(good.port, sp).initiate({ timeout: 15_000 });
    await conn.ready;
    await conn.close();
  });
});

describe("TLS Listener (SecurityParameters identity)", () => {
  it("serves framed Messages to a plain node:tls client that verifies it against the root", async () => {
    const listener = new Preconnection({
      local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
      transportProperties: new TransportProperties().require("preserve-msg-boundaries"),
      securityParameters: new SecurityParameters()
        .addIdentity(pki.server.chainPem)
        .addPrivateKey(pki.server.keyPem),
    })
      .addFramer(new LengthPrefixFramer())
      .listen();
    listener.on("connectionReceived", async (c) => {
      const m = await c.receive();
      await c.send(Buffer.concat([Buffer.from("re:"), m.data]));
      await c.close();
    });
    await listener.ready;
    expect(listener.protocolStack).toBe("tls/tcp");
    const socket = tls.connect({
      host: "127.0.0.1",
      port: listener.port!,
      servername: "localhost",
      ca: pki.root.certPem,
    });
    await new Promise<void>((r, j) => {
      socket.once("secureConnect", () => r());
      socket.once("error", j);
    });
    const frame = Buffer.alloc(9);
    frame.writeUInt32BE(5, 0);
    frame.write("hello", 4);
    socket.write(frame);
    const chunks: Buffer[] = [];
    await new Promise<void>((r) => {
      socket.on("data", (d: Buffer) => chunks.push(d));
      socket.on("end", () => r());
    });
    socket.end();
    const reply = Buffer.concat(chunks);
    expect(reply.readUInt32BE(0)).toBe(8);
    expect(reply.subarray(4).toString()).toBe("re:hello");
    await listener.stop();
  });
});

describe("TLS Listener with openssl s_client as the peer", () => {
  it("openssl s_client verifies our identity (-CAfile, -verify_return_error) and exchanges a line", async () => {
    const listener = new Preconnection({
      local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
      transportProperties: new TransportProperties().require("preserve-msg-boundaries"),
      securityParameters: new SecurityParameters()
        .addIdentity(pki.server.chainPem)
        .addPrivateKey(pki.server.keyPem),
    })
      .addFramer(new DelimiterFramer())
      .listen();
    listener.on("connectionReceived", async (c) => {
      const m = await c.receive();
      await c.send(Buffer.concat([Buffer.from("served "), m.data]));
      await c.close();
    });
    await listener.ready;
    const { spawn } = await import("node:child_process");
    const ca = dir.write("root-for-client.pem", pki.root.certPem);
    const child = spawn(
      "openssl",
      [
        "s_client",
        "-connect",
        `127.0.0.1:${listener.port}`,
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-CAfile",
        ca,
        "-verify_return_error",
        "-quiet",
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", () => {});
    child.stdin.write("hello\n");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await new Promise<number | null>((r) => child.on("close", r));
    clearTimeout(timer);
    child.stdin.destroy();
    expect(out).toBe("served hello\n");
    expect(code).toBe(0);
    await listener.stop();
  });
});

describe("@x/cert-validate as the trust verification callback", () => {
  it("accepts the chain under a path policy anchored at the test root, and rejects a wrong name", async () => {
    const { certValidateTrust } = await import("../src/index.js");
    const verdicts: string[] = [];
    const policy = {
      kind: "path" as const,
      options: {
        anchors: [pki.root.certPem],
        time: new Date(),
        host: "localhost",
        purpose: "serverAuth" as const,
      },
    };
    const ok = client(
      good.port,
      new SecurityParameters().setTrustVerificationCallback(
        certValidateTrust(policy, { onVerdict: (v) => verdicts.push(v.kind) }),
      ),
    ).initiate({ timeout: 15_000 });
    await ok.ready;
    expect(verdicts).toEqual(["path"]);
    expect(await exchange(ok, "cv")).toBe("vc");
    await ok.close();
    const rejections: unknown[] = [];
    const bad = client(
      wrongName.port,
      new SecurityParameters().setTrustVerificationCallback(
        certValidateTrust(policy, { onReject: (e) => rejections.push(e) }),
      ),
    ).initiate({ timeout: 15_000 });
    const error = (await bad.ready.catch((e: unknown) => e)) as InitiateError;
    expect(error.reason).toBe("security");
    expect((rejections[0] as { code?: string }).code).toMatch(/^ERR_CERT/);
  });
});

describe("pre-shared key (AddPreSharedKey)", () => {
  it("TLS 1.3 with an external PSK between a TAPS Listener and a TAPS client; a wrong key fails", async () => {
    const key = Buffer.from("0123456789abcdef0123456789abcdef");
    const tp = new TransportProperties().require("preserve-msg-boundaries");
    const listener = new Preconnection({
      local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
      transportProperties: tp,
      securityParameters: new SecurityParameters().addPreSharedKey(key, "client1"),
    })
      .addFramer(new LengthPrefixFramer())
      .listen();
    listener.on("connectionReceived", async (c) => {
      const m = await c.receive().catch(() => undefined);
      if (m) await c.send(m.data);
      await c.close();
    });
    await listener.ready;
    const connect = (k: Buffer) =>
      new Preconnection({
        remote: new RemoteEndpoint().withIPv4Address("127.0.0.1").withPort(listener.port!),
        transportProperties: tp,
        securityParameters: new SecurityParameters().addPreSharedKey(k, "client1"),
      })
        .addFramer(new LengthPrefixFramer())
        .initiate({ timeout: 10_000 });
    const good = connect(key);
    await good.ready;
    expect(good.getProperties().get("_x.tls-protocol")).toBe("TLSv1.3");
    await good.send("psk");
    expect(Buffer.from((await good.receive()).data).toString()).toBe("psk");
    await good.close();
    const bad = connect(Buffer.from("ffffffffffffffffffffffffffffffff"));
    const error = (await bad.ready.catch((e: unknown) => e)) as InitiateError;
    expect(error).toBeInstanceOf(InitiateError);
    expect(error.reason).toBe("security");
    await listener.stop();
  });
});
