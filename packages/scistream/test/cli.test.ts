/** The built CLIs (bin/s2cs.js, bin/s2uc.js, bin/appctrl.js, bin/scistream.js), spawned for real. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateUid } from "../src/uid.js";
import { digestOf, exchange, payload, pki, startDigestApp } from "./helpers.js";

const bin = (name: string) => fileURLToPath(new URL(`../bin/${name}.js`, import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin(name), ...args],
      { timeout: 60_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "scistream-cli-"));
  const { server, root } = await pki();
  writeFileSync(join(dir, "server.crt"), server.chainPem);
  writeFileSync(join(dir, "server.key"), server.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, "ca.pem"), root.certPem);
  writeFileSync(join(dir, "tokens"), "tok-alice-123456 alice\ntok-bob-1234567 bob\n");
  writeFileSync(join(dir, "alice.token"), "tok-alice-123456\n");
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `s2cs` and resolves once it printed its listening line. */
async function startS2cs(
  extra: readonly string[] = [],
): Promise<{ child: ChildProcess; port: number; metricsPort: number; stop: () => Promise<number> }> {
  const child = spawn(
    process.execPath,
    [
      bin("s2cs"),
      "--port",
      "0",
      "--port_range",
      "0",
      "--workers",
      "0",
      "--listener_ip",
      "127.0.0.1",
      "--server_crt",
      join(dir, "server.crt"),
      "--server_key",
      join(dir, "server.key"),
      "--auth",
      "static",
      "--tokens_file",
      join(dir, "tokens"),
      "--metrics_port",
      "0",
      "--json",
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  children.push(child);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once("exit", () => reject(new Error(`s2cs exited: ${stderr}`)));
  });
  const info = JSON.parse(line) as { event: string; port: number; metrics_port: number };
  expect(info.event).toBe("listening");
  return {
    child,
    port: info.port,
    metricsPort: info.metrics_port,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

describe("CLI basics", () => {
  for (const name of ["s2cs", "s2uc", "appctrl", "scistream"]) {
    it(`${name} --help and --version exit 0`, async () => {
      const help = await run(name, ["--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Usage/);
      const version = await run(name, ["--version"]);
      expect(version.code).toBe(0);
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    });
  }

  it("usage errors exit 2", async () => {
    expect((await run("s2uc", ["no-such-command"])).code).toBe(2);
    expect((await run("s2uc", ["release"])).code).toBe(2);
    expect((await run("s2uc", ["--bogus-flag"])).code).toBe(2);
    expect((await run("appctrl", ["hello", "only-one"])).code).toBe(2);
    expect((await run("scistream", ["nope"])).code).toBe(2);
    const noAuth = await run("s2cs", ["--port", "0", "--ssl=False"]);
    expect(noAuth.code).toBe(2);
    expect(noAuth.stderr).toMatch(/no authentication configured/);
  });

  it("a failed RPC exits 1 (the reference exits 0), with a JSON error under --json", async () => {
    const r = await run("s2uc", [
      "release",
      generateUid(),
      "--s2cs",
      "127.0.0.1:1",
      "--insecure",
      "--timeout",
      "3",
      "--json",
    ]);
    expect(r.code).toBe(1);
    const body = JSON.parse(r.stdout) as { ok: boolean; error_code: string };
    expect(body.ok).toBe(false);
    expect(body.error_code).toBe("UNAVAILABLE");
  });
});

describe("two facilities driven by the CLIs", () => {
  it("s2cs x2, s2uc inbound-request / outbound-request / release, data end to end", {
    timeout: 120_000,
  }, async () => {
    const app = await startDigestApp();
    const prod = await startS2cs();
    const cons = await startS2cs();
    try {
      const common = ["--server_cert", join(dir, "ca.pem"), "--server-name", "localhost", "--json"];
      const inbound = await run("s2uc", [
        "inbound-request",
        "--s2cs",
        `127.0.0.1:${prod.port}`,
        "--num_conn",
        "2",
        "--remote_ip",
        "127.0.0.1",
        "--receiver_ports",
        String(app.port),
        "--token-file",
        join(dir, "alice.token"),
        ...common,
      ]);
      expect(inbound.stderr).toBe("");
      expect(inbound.code).toBe(0);
      const ib = JSON.parse(inbound.stdout) as { uid: string; listeners: string[]; prod_listeners: string[] };
      expect(ib.listeners).toHaveLength(2);
      expect(inbound.stdout).not.toContain("tok-alice");

      const outbound = await run(
        "s2uc",
        [
          "outbound-request",
          ib.uid,
          ib.listeners.join(","),
          "--s2cs",
          `127.0.0.1:${cons.port}`,
          "--num_conn",
          "2",
          ...common,
        ],
        { SCISTREAM_TOKEN: "tok-alice-123456" },
      );
      expect(outbound.code).toBe(0);
      const ob = JSON.parse(outbound.stdout) as { listeners: string[] };
      const data = payload(300_000);
      for (const l of ob.listeners) {
        expect((await exchange(Number(l.split(":")[1]), data)).toString()).toBe(digestOf(data));
      }

      const metrics = await (await fetch(`http://127.0.0.1:${cons.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^scistream_sessions\{state="ACTIVE"\} 1$/m);
      expect(metrics).toMatch(/^scistream_channel_bytes_in\{/m);

      // Another token cannot release alice's session: exit 1 with AUTH_ERROR.
      const stolen = await run("s2uc", [
        "release",
        ib.uid,
        "--s2cs",
        `127.0.0.1:${prod.port}`,
        "--token",
        "tok-bob-1234567",
        ...common,
      ]);
      expect(stolen.code).toBe(1);
      expect(JSON.parse(stolen.stdout)).toMatchObject({ ok: false, error_code: "AUTH_ERROR" });

      for (const port of [prod.port, cons.port]) {
        const rel = await run("s2uc", [
          "release",
          ib.uid,
          "--s2cs",
          `127.0.0.1:${port}`,
          "--token",
          "tok-alice-123456",
          ...common,
        ]);
        expect(rel.code).toBe(0);
      }
    } finally {
      expect(await prod.stop()).toBe(0);
      expect(await cons.stop()).toBe(0);
      await app.close();
    }
  });

  it("prod-req waits for appctrl hello", { timeout: 120_000 }, async () => {
    const s2cs = await startS2cs();
    try {
      const uid = generateUid();
      const common = [
        "--server_cert",
        join(dir, "ca.pem"),
        "--server-name",
        "localhost",
        "--token",
        "tok-alice-123456",
      ];
      const req = run("s2uc", [
        "prod-req",
        "--uid",
        uid,
        "--s2cs",
        `127.0.0.1:${s2cs.port}`,
        "--num_conn",
        "1",
        "--json",
        ...common,
      ]);
      let hello: Run | undefined;
      for (let i = 0; i < 40; i++) {
        hello = await run("appctrl", [
          "hello",
          uid,
          `127.0.0.1:${s2cs.port}`,
          "PROD",
          "--listeners",
          "127.0.0.1:7000",
          ...common,
        ]);
        if (hello.code === 0) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(hello?.code).toBe(0);
      expect(hello?.stdout).toMatch(/Sending Prod listeners/);
      const r = await req;
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, uid, prod_listeners: ["127.0.0.1:7000"] });
    } finally {
      expect(await s2cs.stop()).toBe(0);
    }
  });

  it("cons-req waits for an appctrl hello, then update and release by command", {
    timeout: 120_000,
  }, async () => {
    const s2cs = await startS2cs();
    try {
      const uid = generateUid();
      const target = `127.0.0.1:${s2cs.port}`;
      const common = [
        "--server_cert",
        join(dir, "ca.pem"),
        "--server-name",
        "localhost",
        "--token",
        "tok-alice-123456",
      ];
      const req = run("s2uc", [
        "cons-req",
        uid,
        "127.0.0.1:5100",
        "--s2cs",
        target,
        "--num_conn",
        "2",
        "--json",
        ...common,
      ]);
      let hello: Run | undefined;
      for (let i = 0; i < 40; i++) {
        hello = await run("appctrl", ["hello", uid, target, "CONS", "--json", ...common]);
        if (hello.code === 0) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(hello?.code).toBe(0);
      const answer = JSON.parse(hello!.stdout) as { message: string; listeners: string[] };
      expect(answer.message).toBe("Sending listeners...");
      expect(answer.listeners).toHaveLength(2);
      const r = await req;
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({
        ok: true,
        role: "CONS",
        prod_listeners: ["127.0.0.1:5100", "127.0.0.1:5100"],
      });
      const update = await run("s2uc", [
        "update",
        uid,
        "127.0.0.1:5200,127.0.0.1:5201",
        "--role",
        "CONS",
        "--s2cs",
        target,
        "--json",
        ...common,
      ]);
      expect(update.code).toBe(0);
      expect(JSON.parse(update.stdout)).toMatchObject({
        prod_listeners: ["127.0.0.1:5200", "127.0.0.1:5201"],
      });
      expect((await run("s2uc", ["release", uid, "--s2cs", target, ...common])).code).toBe(0);
      const again = await run("s2uc", [
        "update",
        uid,
        "127.0.0.1:5200",
        "--s2cs",
        target,
        "--json",
        ...common,
      ]);
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stdout)).toMatchObject({ error_code: "INVALID_UID" });
    } finally {
      expect(await s2cs.stop()).toBe(0);
    }
  });
});
