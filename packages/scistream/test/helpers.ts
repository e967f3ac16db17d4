/** Shared fixtures: loopback applications, certificates, and S2CS/S2UC factories. */
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { createPki, type Pki } from "@x/test-certs";

let pkiPromise: Promise<Pki> | undefined;
/** One PKI per test file (generation is slow under load). */
export function pki(): Promise<Pki> {
  pkiPromise ??= createPki();
  return pkiPromise;
}

/** A producer application: a TCP server that echoes everything back, ending when the peer ends. */
export async function startEchoApp(): Promise<{
  server: net.Server;
  port: number;
  close: () => Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * A producer application that, per connection, reads until the peer half-closes and answers with
 * the SHA-256 of what it read, then ends (the half-close pattern of `nc -N`).
 */
export async function startDigestApp(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    const hash = createHash("sha256");
    let n = 0;
    s.on("data", (d: Buffer) => {
      hash.update(d);
      n += d.length;
    });
    s.on("end", () => s.end(`${n}:${hash.digest("hex")}`));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Sends `payload`, half-closes, and resolves with everything received until the peer ends. */
export function exchange(port: number, payload: Buffer, host = "127.0.0.1"): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host, port, allowHalfOpen: true }, () => s.end(payload));
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => {
      s.destroy();
      resolve(Buffer.concat(chunks));
    });
    s.on("error", reject);
    s.on("close", () => reject(new Error("closed before end")));
  });
}

/** Resolves true if the connection is closed by the peer without any data (refused relay). */
export function expectClosedWithoutData(port: number, payload = Buffer.from("hello")): Promise<boolean> {
  return new Promise((resolve) => {
    let got = 0;
    const s = net.connect({ host: "127.0.0.1", port }, () => s.write(payload));
    s.on("data", (d: Buffer) => (got += d.length));
    s.on("error", () => {});
    s.on("close", () => resolve(got === 0));
  });
}

export function digestOf(payload: Buffer): string {
  return `${payload.length}:${createHash("sha256").update(payload).digest("hex")}`;
}

export function payload(size: number): Buffer {
  return randomBytes(size);
}

/** Polls `check` until it is true (no timing assertions: only an upper bound on waiting). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

import { staticTokenAuth } from "../src/auth.js";
import { S2cs, type S2csOptions } from "../src/s2cs/server.js";
import { S2ucClient, type S2ucOptions } from "../src/s2uc/client.js";

export const TOKENS = { alice: "token-alice-0123456789", bob: "token-bob-0123456789" } as const;

export interface Facility {
  readonly s2cs: S2cs;
  readonly port: number;
  client(options?: Partial<S2ucOptions>): S2ucClient;
  close(): Promise<void>;
}

/** An S2CS over TLS with a certificate from the test PKI, and S2UC clients that trust it. */
export async function startFacility(options: Partial<S2csOptions> = {}): Promise<Facility> {
  const { server, root } = await pki();
  const s2cs = new S2cs({
    tls: { cert: server.chainPem, key: server.keyPem },
    auth: staticTokenAuth({ [TOKENS.alice]: "alice", [TOKENS.bob]: "bob" }),
    s2ds: { workers: 0 },
    ...options,
  });
  const port = await s2cs.listen();
  const clients: S2ucClient[] = [];
  return {
    s2cs,
    port,
    client(clientOptions = {}) {
      const c = new S2ucClient({
        address: `localhost:${port}`,
        ca: root.certPem,
        token: TOKENS.alice,
        ...clientOptions,
      });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await s2cs.close();
    },
  };
}
