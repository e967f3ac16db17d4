import { execFile, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createPki } from "@x/test-certs";
import { afterEach, describe, expect, it } from "vitest";

const run = promisify(execFile);
const bin = join(import.meta.dirname, "..", "bin", "sttp-connect.js");
const children: { kill(signal?: NodeJS.Signals): boolean }[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

async function cli(
  args: string[],
  timeout = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Starts a long-running CLI process and resolves with the first JSON event matching `event`. */
function background(args: string[], event: string): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no ${event} event: ${text}`)), 30_000);
    child.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      for (const line of text.split("\n")) {
        if (line.includes(`"event":"${event}"`)) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as Record<string, unknown>);
          return;
        }
      }
    });
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${text}`)));
  });
}

/** Starts `publish` with `signals` signals and runs `subscribe --json` against it; returns its events. */
async function publishAndSubscribe(
  signals: number,
  subscribeArgs: string[],
): Promise<{ code: number | null; events: Record<string, unknown>[] }> {
  const listening = await background(
    ["publish", "0", "--host", "127.0.0.1", "--json", "--rate", "100", "--signals", String(signals)],
    "listening",
  );
  const result = await cli(["subscribe", "127.0.0.1", String(listening.port), "--json", ...subscribeArgs]);
  const events = result.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: result.code, events };
}

describe("sttp-connect CLI", () => {
  it("--help, --version and usage errors", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("subscribe <host> <port>");
    const version = await cli(["--version"]);
    expect(version).toMatchObject({ code: 0, stdout: "0.1.0\n" });
    expect((await cli(["frobnicate"])).code).toBe(2);
    expect((await cli(["subscribe", "127.0.0.1"])).code).toBe(2);
    expect((await cli(["publish", "0", "--bogus"])).code).toBe(2);
  });

  it("--duration stops a subscriber that is still trying to connect", async () => {
    const result = await cli([
      "subscribe",
      "127.0.0.1",
      "1",
      "--duration",
      "1",
      "--count",
      "1",
      "--retry-interval",
      "100",
    ]);
    // no measurement arrived within the duration: failure, but a clean exit with a summary
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/reconnecting in \d+ ms/);
    expect(result.stdout).toContain("0 measurements received");
  });

  it("publish + subscribe print the handshake, the signal cache and measurements (--json)", async () => {
    const { code, events } = await publishAndSubscribe(5, [
      "--metadata",
      "--count",
      "50",
      "--filter",
      "PPA:1;PPA:2;PPA:3;PPA:4;PPA:5",
    ]);
    expect(code).toBe(0);
    const byName = (name: string) => events.find((e) => e.event === name);
    expect(byName("handshake")).toMatchObject({ accepted: true });
    expect(byName("signalIndexCache")).toMatchObject({ cacheIndex: 0 });
    expect(byName("signalIndexCache")?.signals).toHaveLength(5);
    expect(byName("metadata")).toMatchObject({ measurements: 5 });
    expect(byName("subscribed")?.message).toMatch(/TSSC format over TCP with 5 signals/);
    expect(Number(byName("summary")?.measurements)).toBeGreaterThanOrEqual(50);
  });

  it("--filter accepts FILTER expressions", async () => {
    const { code, events } = await publishAndSubscribe(8, [
      "--count",
      "20",
      "--filter",
      "PPA:8; FILTER TOP 2 ActiveMeasurements WHERE ID LIKE 'PPA:%' AND ID <> 'PPA:8' ORDER BY ID DESC",
    ]);
    expect(code).toBe(0);
    const cache = events.find((e) => e.event === "signalIndexCache")?.signals as { key: string }[];
    expect(cache.map((s) => s.key)).toEqual(["PPA:8", "PPA:7", "PPA:6"]);
    expect(events.find((e) => e.event === "subscribed")?.message).toMatch(/with 3 signals/);
  });

  it("listen + dial: reverse connection over UDP", async () => {
    const listening = await background(
      ["listen", "0", "--host", "127.0.0.1", "--json", "--udp", "--count", "20", "--filter", "PPA:1;PPA:2"],
      "listening",
    );
    const sub = children[children.length - 1] as ReturnType<typeof spawn>;
    const summary = new Promise<string>((resolve) => {
      let text = "";
      sub.stdout?.on("data", (c: Buffer) => {
        text += c.toString();
      });
      sub.once("exit", () => resolve(text));
    });
    await background(["dial", "127.0.0.1", String(listening.port), "--json"], "dialled");
    const text = await summary;
    expect(text).toMatch(
      /"event":"subscribed","message":"Client subscribed using compact format over UDP with 2 signals."/,
    );
    expect(text).toMatch(/"event":"summary","measurements":\d+/);
  });

  it("TLS: a name mismatch fails (exit 1) unless --allow-name-mismatch, which warns", async () => {
    const pki = await createPki();
    const dir = mkdtempSync(join(tmpdir(), "sttp-cli-"));
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const ca = file("ca.pem", pki.root.certPem);
    const listening = await background(
      [
        "publish",
        "0",
        "--host",
        "127.0.0.1",
        "--json",
        "--tls",
        "--cert",
        file("wrong.pem", pki.wrongName.chainPem),
        "--key",
        file("wrong.key", pki.wrongName.keyPem),
        "--ca",
        ca,
      ],
      "listening",
    );
    const clientArgs = [
      "subscribe",
      "127.0.0.1",
      String(listening.port),
      "--tls",
      "--ca",
      ca,
      "--cert",
      file("agent.pem", pki.agent.chainPem),
      "--key",
      file("agent.key", pki.agent.keyPem),
      "--max-retries",
      "0",
      "--count",
      "5",
      "--json",
    ];
    const strict = await cli(clientArgs);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain("ERR_STTP_TLS_POLICY");
    const tolerant = await cli([...clientArgs, "--allow-name-mismatch"]);
    expect(tolerant.code).toBe(0);
    expect(tolerant.stderr).toMatch(/security warning \[allowNameMismatch\]/);
  });
});
