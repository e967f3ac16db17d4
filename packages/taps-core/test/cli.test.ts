import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { LengthPrefixFramer, LocalEndpoint, Preconnection, TransportProperties } from "../src/index.js";
import { closedPort } from "./helpers.js";

const bin = fileURLToPath(new URL("../bin/taps.js", import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function run(args: string[], stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

describe("taps CLI", () => {
  it("--help, --version and usage errors", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("taps connect");
    const version = await new Promise<string>((r) =>
      execFile(process.execPath, [bin, "--version"], (_e, out) => r(out)),
    );
    expect(version.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await run(["connect", "127.0.0.1"])).code).toBe(2);
    expect((await run(["bogus"])).code).toBe(2);
    expect((await run(["connect", "127.0.0.1", "80", "--require", "no-such-property"])).code).toBe(2);
  });

  it("connect with a length framer: shows the stack, the racing timeline and the events as NDJSON", async () => {
    const tp = new TransportProperties().require("preserve-msg-boundaries");
    const listener = new Preconnection({
      local: new LocalEndpoint().withIPv4Address("127.0.0.1").withPort(0),
      transportProperties: tp,
    })
      .addFramer(new LengthPrefixFramer())
      .listen();
    cleanups.push(() => listener.stop());
    listener.on("connectionReceived", async (c) => {
      for await (const m of c.messages()) await c.send(Buffer.concat([Buffer.from("echo "), m.data]));
      await c.close();
    });
    await listener.ready;
    const r = await run(
      [
        "connect",
        "127.0.0.1",
        String(listener.port),
        "--framer",
        "length",
        "--require",
        "preserve-msg-boundaries",
        "--json",
      ],
      "one\ntwo\n",
    );
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.event === "ready")).toMatchObject({ stack: "tcp" });
    expect(events.filter((e) => e.event === "timeline").map((e) => e.step)).toEqual(["attempt", "won"]);
    expect(
      events.filter((e) => e.event === "timeline").map((e) => (e as { candidate?: string }).candidate),
    ).toContain(`127.0.0.1:${listener.port}`);
    expect(events.filter((e) => e.event === "data").map((e) => e.text)).toEqual(["echo one", "echo two"]);
    expect(events[events.length - 1]!.event).toBe("closed");
  });

  it("connect to a refused port exits 1 with an initiateError event", async () => {
    const r = await run(["connect", "127.0.0.1", String(await closedPort()), "--json"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('"event":"initiateError"');
  });

  it("a Require no stack can meet exits 1 and names the property", async () => {
    const r = await run(["connect", "127.0.0.1", "9", "--require", "zero-rtt-msg"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("zero-rtt-msg");
  });

  it("listen --echo --once serves one connection and stops", async () => {
    const child = spawn(
      process.execPath,
      [bin, "listen", "0", "--framer", "line", "--echo", "--once", "--json"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    cleanups.push(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const port = await new Promise<number>((resolve) => {
      child.stdout.on("data", () => {
        const m = /"event":"listening".*"port":(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    });
    const r = await run(["connect", "127.0.0.1", String(port), "--framer", "line"], "ping\n");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("ping\n");
    const code = await exited;
    expect(code).toBe(0);
    expect(out).toContain('"event":"stopped"');
  });
});
