/**
 * Interop with foreign TLS-PSK peers: Debian's stunnel4 configured like the reference S2DS
 * template (ciphers = eNULL, securityLevel = 0, PSKsecrets client1:<uid hex>), and an anonymous
 * `openssl s_client` that must be refused.
 */
import { execFile } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { S2ds } from "../src/s2ds/s2ds.js";
import { generateUuidUid, referencePsk } from "../src/uid.js";
import { digestOf, exchange, payload, startDigestApp } from "./helpers.js";
import { freePort, startStunnel } from "./stunnel.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("reference-compat profile against stunnel4 (reference template)", () => {
  it("our outbound S2DS -> stunnel inbound server -> producer app", async () => {
    const app = await startDigestApp();
    cleanups.push(app.close);
    const uid = generateUuidUid(); // the reference uses uuid strings; PSK = hex without dashes
    const acceptPort = await freePort();
    const stunnel = await startStunnel(
      [{ client: false, acceptPort, connect: `127.0.0.1:${app.port}`, ciphers: "eNULL" }],
      { identity: "client1", keyHex: referencePsk(uid).toString("hex") },
    );
    cleanups.push(stunnel.stop);
    const cons = new S2ds({ workers: 0, profile: "reference-compat" });
    cleanups.push(() => cons.close());
    const session = await cons.openSession({ uid, direction: "outbound", numConn: 1 });
    await session.setTargets([{ host: "127.0.0.1", port: acceptPort }]);
    const data = payload(200_000);
    expect((await exchange(session.ports[0]!, data)).toString()).toBe(digestOf(data));
  });

  it("stunnel outbound client -> our inbound S2DS -> producer app", async () => {
    const app = await startDigestApp();
    cleanups.push(app.close);
    const uid = generateUuidUid();
    const prod = new S2ds({ workers: 0, profile: "reference-compat" });
    cleanups.push(() => prod.close());
    const session = await prod.openSession({ uid, direction: "inbound", numConn: 1 });
    await session.setTargets([{ host: "127.0.0.1", port: app.port }]);
    const acceptPort = await freePort();
    const stunnel = await startStunnel(
      [{ client: true, acceptPort, connect: `127.0.0.1:${session.ports[0]}`, ciphers: "eNULL" }],
      { identity: "client1", keyHex: referencePsk(uid).toString("hex") },
    );
    cleanups.push(stunnel.stop);
    const data = payload(200_000);
    expect((await exchange(acceptPort, data)).toString()).toBe(digestOf(data));
    const stats = await session.stats();
    expect(stats[0]!.connectionsAccepted).toBeGreaterThanOrEqual(1);
  });

  it("a stunnel client with the wrong key is refused", async () => {
    const app = await startDigestApp();
    cleanups.push(app.close);
    const prod = new S2ds({ workers: 0, profile: "reference-compat" });
    cleanups.push(() => prod.close());
    const session = await prod.openSession({ uid: generateUuidUid(), direction: "inbound", numConn: 1 });
    await session.setTargets([{ host: "127.0.0.1", port: app.port }]);
    const acceptPort = await freePort();
    const stunnel = await startStunnel(
      [{ client: true, acceptPort, connect: `127.0.0.1:${session.ports[0]}`, ciphers: "eNULL" }],
      { identity: "client1", keyHex: referencePsk(generateUuidUid()).toString("hex") },
    );
    cleanups.push(stunnel.stop);
    await expect(exchange(acceptPort, Buffer.from("secret"))).rejects.toThrow();
    const stats = await session.stats();
    expect(stats[0]!.connectionsActive).toBe(0);
    expect(Object.keys(stats[0]!.handshakeFailures).length).toBeGreaterThan(0);
  });
});

function sClient(port: number, args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      "openssl",
      ["s_client", "-connect", `127.0.0.1:${port}`, "-brief", ...args],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, out: stdout + stderr });
      },
    );
    child.stdin?.end("GET / HTTP/1.0\r\n\r\n");
  });
}

describe("anonymous cipher suites are refused", () => {
  for (const profile of ["secure", "tls12", "reference-compat"] as const) {
    it(`openssl s_client -cipher aNULL fails against the ${profile} profile`, async () => {
      const app = await startDigestApp();
      cleanups.push(app.close);
      const prod = new S2ds({ workers: 0, profile });
      cleanups.push(() => prod.close());
      const session = await prod.openSession({ uid: generateUuidUid(), direction: "inbound", numConn: 1 });
      await session.setTargets([{ host: "127.0.0.1", port: app.port }]);
      const result = await sClient(session.ports[0]!, ["-tls1_2", "-cipher", "aNULL:@SECLEVEL=0"]);
      expect(result.code).not.toBe(0);
      const stats = await session.stats();
      expect(stats[0]!.connectionsAccepted).toBe(0);
      expect(Object.keys(stats[0]!.handshakeFailures).length).toBeGreaterThan(0);
    });
  }
});
