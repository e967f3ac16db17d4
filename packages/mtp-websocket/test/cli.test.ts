/** The built CLI, spawned as a user would run it (CI builds before testing). */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createPki } from "@x/test-certs";
import { afterEach, describe, expect, it } from "vitest";
import { getRecord } from "./helpers.js";

const bin = fileURLToPath(new URL("../bin/mtp-websocket.js", import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});

function run(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** Starts `listen --json` and resolves with its URL and a line reader. */
async function listen(args: string[]) {
  const child = spawn(process.execPath, [bin, "listen", "--json", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  const rl = createInterface({ input: child.stdout });
  const waiters: (() => void)[] = [];
  rl.on("line", (line) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    for (;;) {
      const found = lines.find(pred);
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const listening = await next((l) => l.event === "listening");
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { url: listening.url as string, lines, next, exited };
}

describe("mtp-websocket CLI", () => {
  it("--help, --version, usage errors", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: mtp-websocket/);
    const version = await run(["--version"]);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await run(["listen"])).code).toBe(2);
    expect((await run(["frobnicate", "--id", "proto::x"])).code).toBe(2);
    expect((await run(["connect", "--id", "proto::x"])).code).toBe(2);
    expect((await run(["--bogus"])).code).toBe(2);
  });

  it("listen prints Records as JSON lines; connect sends hex, payload and stdin Records", async () => {
    const server = await listen(["--id", "proto::controller", "--count", "3"]);
    const record = Buffer.from(getRecord("proto::controller", "proto::agent", "from-hex")).toString("hex");
    const sent = await run([
      "connect",
      "--json",
      "--url",
      server.url,
      "--id",
      "proto::agent",
      "--to",
      "proto::controller",
      "--hex",
      record,
      "--payload-hex",
      "0a050a0131100112180a160a140a124465766963652e446576696365496e666f2e",
    ]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(
      sent.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).event),
    ).toEqual(["sent", "sent"]);
    const viaStdin = await run(
      ["connect", "--url", server.url, "--id", "proto::agent", "--to", "proto::controller"],
      record,
    );
    expect(viaStdin.code, viaStdin.stderr).toBe(0);
    expect(await server.exited).toBe(0);
    const types = server.lines.filter((l) => l.event === "record").map((l) => l.type);
    expect(types.filter((t) => t === "noSessionContext")).toHaveLength(3);
    expect(types[0]).toBe("websocketConnect");
    expect(types).toContain("disconnect");
    const first = server.lines.find((l) => l.type === "noSessionContext");
    expect(first?.from).toBe("proto::agent");
  });

  it("listen --echo answers; connect --wait prints the answer", async () => {
    const server = await listen(["--id", "proto::controller", "--echo", "--count", "1"]);
    const out = await run([
      "connect",
      "--json",
      "--url",
      server.url,
      "--id",
      "proto::agent",
      "--payload-hex",
      "0a050a0131100112180a160a140a124465766963652e446576696365496e666f2e",
      "--wait",
      "500",
    ]);
    expect(out.code, out.stderr).toBe(0);
    const answers = out.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.event === "record");
    expect(answers.map((a) => a.type)).toEqual(["noSessionContext"]);
    expect(answers[0]?.from).toBe("proto::controller");
    expect(await server.exited).toBe(0);
  });

  it("serves and connects over wss:// with mTLS flags", async () => {
    const pki = await createPki();
    const dir = mkdtempSync(join(tmpdir(), "mtp-ws-cli-"));
    try {
      const file = (name: string, pem: string) => {
        const p = join(dir, name);
        writeFileSync(p, pem);
        return p;
      };
      const ca = file("root.pem", pki.root.certPem);
      const server = await listen([
        "--id",
        "proto::controller",
        "--count",
        "1",
        "--cert",
        file("server.pem", pki.controller.chainPem),
        "--key",
        file("server.key", pki.controller.keyPem),
        "--ca",
        ca,
        "--client-cert",
        "require",
      ]);
      expect(server.url).toMatch(/^wss:/);
      const common = [
        "connect",
        "--url",
        server.url,
        "--id",
        "proto::agent",
        "--to",
        "proto::controller",
        "--timeout",
        "3000",
      ];
      const noCert = await run([...common, "--ca", ca, "--payload-hex", "0a00"]);
      expect(noCert.code).toBe(1);
      const ok = await run([
        ...common,
        "--ca",
        ca,
        "--cert",
        file("agent.pem", pki.agent.chainPem),
        "--key",
        file("agent.key", pki.agent.keyPem),
        "--payload-hex",
        "0a050a0131100112180a160a140a124465766963652e446576696365496e666f2e",
      ]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(await server.exited).toBe(0);
      expect(server.lines.filter((l) => l.type === "noSessionContext")).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("connect fails with exit 1 when nobody listens", async () => {
    const out = await run([
      "connect",
      "--url",
      "ws://127.0.0.1:1/usp",
      "--id",
      "proto::agent",
      "--timeout",
      "300",
      "--hex",
      "00",
    ]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/cannot connect/);
  });
});
