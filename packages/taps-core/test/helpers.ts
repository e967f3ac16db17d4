/**
 * Test peers and fixtures on loopback: a real black hole (a listening socket whose accept queue
 * is full), free ports, plain `net` peers, `openssl s_server`, and certificates from @x/test-certs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { Connection, ConnectionEvents } from "../src/index.js";

/**
 * A loopback address:port that never answers a SYN: a listener with backlog 1 owned by a worker
 * whose event loop is blocked (so it never accepts), and whose accept queue we fill first. New
 * SYNs are then dropped by the kernel, exactly like a black-holed path: connect() stays pending.
 */
export interface BlackHole {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const BLACK_HOLE_WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const net = require("node:net");
const server = net.createServer();
server.listen({ host: workerData.host, port: workerData.port, backlog: 1, ipv6Only: workerData.host.includes(":") }, () => {
  parentPort.postMessage(server.address().port);
  // Block this thread's event loop (no CPU) so libuv never accepts.
  Atomics.wait(new Int32Array(workerData.flag), 0, 0);
  server.close();
});
server.on("error", (e) => { parentPort.postMessage({ error: e.code }); });
`;

export async function blackHole(host = "127.0.0.1", port = 0): Promise<BlackHole> {
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(BLACK_HOLE_WORKER, { eval: true, workerData: { host, port, flag } });
  const bound = await new Promise<number>((resolve, reject) => {
    worker.once("message", (m: number | { error: string }) =>
      typeof m === "number" ? resolve(m) : reject(new Error(`black hole bind failed: ${m.error}`)),
    );
    worker.once("error", reject);
  });
  const fillers: net.Socket[] = [];
  // Fill the accept queue until a connect stays pending.
  for (let i = 0; i < 8; i++) {
    const s = net.connect({ host, port: bound });
    s.on("error", () => {});
    fillers.push(s);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 400);
      s.once("connect", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) break;
  }
  return {
    host,
    port: bound,
    async close() {
      for (const s of fillers) s.destroy();
      const a = new Int32Array(flag);
      Atomics.store(a, 0, 1);
      Atomics.notify(a, 0);
      await new Promise<void>((resolve) => {
        worker.once("exit", () => resolve());
        setTimeout(() => void worker.terminate(), 2000).unref();
      });
    },
  };
}

/** A port that was free a moment ago (bind 0, read, close). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen({ host, port: 0 }, () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A closed loopback port: connect() is refused at once. */
export const closedPort = freePort;

export interface NetPeer {
  readonly server: net.Server;
  readonly port: number;
  readonly sockets: net.Socket[];
  close(): Promise<void>;
}

/** A bare `net` server on loopback; `onSocket` drives each accepted socket. */
export async function netServer(
  onSocket: (s: net.Socket) => void,
  host = "127.0.0.1",
  port = 0,
  { autoEnd = true }: { autoEnd?: boolean } = {},
): Promise<NetPeer> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on("error", () => {});
    onSocket(s);
    // Like most peers: finish our direction once the other side finished.
    if (autoEnd) s.on("end", () => setImmediate(() => s.end()));
  });
  await new Promise<void>((r, j) => {
    server.once("error", j);
    server.listen({ host, port, ipv6Only: host.includes(":") }, () => r());
  });
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Resolves with the args of the next `event` on a TAPS object. */
export function next<K extends keyof ConnectionEvents & string>(
  c: Connection,
  event: K,
): Promise<ConnectionEvents[K]> {
  return new Promise((resolve) => c.once(event, ((...args: ConnectionEvents[K]) => resolve(args)) as never));
}

/** Records every event of a Connection in order. */
export function record(c: Connection): string[] {
  const log: string[] = [];
  for (const e of [
    "ready",
    "initiateError",
    "connectionError",
    "closed",
    "sent",
    "expired",
    "sendError",
    "received",
    "receivedPartial",
    "receiveError",
    "softError",
  ] as const) {
    c.on(e, () => log.push(e));
  }
  return log;
}

export function until(predicate: () => boolean, timeoutMs = 10_000, stepMs = 10): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - start > timeoutMs) return reject(new Error("condition not met in time"));
      setTimeout(tick, stepMs);
    };
    tick();
  });
}

export function tempDir(): { dir: string; write(name: string, content: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "taps-core-"));
  return {
    dir,
    write(name, content) {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface OpenSslServer {
  readonly port: number;
  readonly process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** `openssl s_server` on 127.0.0.1 (ephemeral port chosen by binding 0 first), in -rev mode or echo-less. */
export async function opensslServer(args: {
  cert: string;
  key: string;
  chain?: string;
  extra?: string[];
}): Promise<OpenSslServer> {
  for (let tries = 0; tries < 5; tries++) {
    const port = await freePort();
    const argv = [
      "s_server",
      "-accept",
      `127.0.0.1:${port}`,
      "-cert",
      args.cert,
      "-key",
      args.key,
      ...(args.chain ? ["-cert_chain", args.chain] : []),
      "-rev",
      "-naccept",
      "50",
      ...(args.extra ?? []),
    ];
    const child = spawn("openssl", argv, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      const check = () => {
        if (out.includes("ACCEPT")) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout.on("data", check);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (ok) {
      return {
        port,
        process: child,
        output: () => out,
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      };
    }
    child.kill("SIGKILL");
  }
  throw new Error("openssl s_server did not start");
}
