/** The `mtp-mqtt` CLI, spawned from its built bin (CI builds before testing). */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type RunningMosquitto, startMosquitto } from "@x/test-brokers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identities, recordBytes } from "./helpers.js";

const run = promisify(execFile);
const BIN = fileURLToPath(new URL("../bin/mtp-mqtt.js", import.meta.url));

let broker: RunningMosquitto;
let dir: string;
beforeAll(async () => {
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), "mtp-mqtt-cli-"));
});
afterAll(async () => {
  await broker?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Start a CLI process; resolve once it printed its `session` line. */
function startCli(
  args: string[],
): Promise<{ stop(): void; done: Promise<{ code: number | null; stdout: string; stderr: string }> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
      child.on("close", (code) => res({ code, stdout, stderr }));
    });
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`CLI did not connect: ${stderr}`));
    }, 20_000);
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"event":"session"')) {
        clearTimeout(timer);
        resolve({ stop: () => child.kill("SIGTERM"), done });
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdin.end();
  });
}

describe("mtp-mqtt CLI", () => {
  it("--help and --version exit 0; bad usage exits 2", async () => {
    const help = await run(process.execPath, [BIN, "--help"]);
    expect(help.stdout).toContain("Usage: mtp-mqtt <agent|controller>");
    const version = await run(process.execPath, [BIN, "--version"]);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    await expect(run(process.execPath, [BIN, "sideways"])).rejects.toMatchObject({ code: 2 });
    await expect(run(process.execPath, [BIN, "agent"])).rejects.toMatchObject({ code: 2 });
    await expect(
      run(process.execPath, [BIN, "agent", "--endpoint-id", "proto::a", "--url", broker.url, "--qos", "2"]),
    ).rejects.toMatchObject({ code: 2 });
    await expect(
      run(process.execPath, [
        BIN,
        "agent",
        "--endpoint-id",
        "proto::a",
        "--url",
        broker.url,
        "--peer",
        "nonsense",
      ]),
    ).rejects.toMatchObject({ code: 2 });
  });

  it("exits 1 when the broker cannot be reached in time", async () => {
    const dead = `mqtt://127.0.0.1:${broker.port === 1 ? 2 : 1}`;
    await expect(
      run(process.execPath, [
        BIN,
        "agent",
        "--endpoint-id",
        "proto::a",
        "--url",
        dead,
        "--response-topic",
        "t/a",
        "--timeout",
        "500",
      ]),
    ).rejects.toMatchObject({ code: 1 });
  });

  it("a controller prints what an agent sends from files and stdin, as JSON lines", async () => {
    const ids = identities();
    const controller = await startCli([
      "controller",
      "--url",
      broker.url,
      "--endpoint-id",
      ids.controllerId,
      "--response-topic",
      ids.controllerTopic,
      "--count",
      "4",
      "--json",
    ]);
    const file = join(dir, "record.bin");
    writeFileSync(file, recordBytes(ids.controllerId, ids.agentId, "from-file"));
    const stdinRecord = Buffer.from(recordBytes(ids.controllerId, ids.agentId, "from-stdin")).toString(
      "base64",
    );
    const agent = spawn(
      process.execPath,
      [
        BIN,
        "agent",
        "--url",
        broker.url,
        "--endpoint-id",
        ids.agentId,
        "--response-topic",
        ids.agentTopic,
        "--peer",
        `${ids.controllerId}=${ids.controllerTopic}`,
        "--send",
        file,
        "--stdin",
        "--exit-after-send",
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let agentOut = "";
    agent.stdout.on("data", (d: Buffer) => {
      agentOut += d.toString();
    });
    agent.stdin.end(`${stdinRecord}\n`);
    const agentCode = await new Promise<number | null>((res) => agent.on("close", res));
    expect(agentCode).toBe(0);
    const sent = jsonLines(agentOut).filter((l) => l.event === "sent");
    expect(sent.map((l) => l.source)).toEqual([file, "stdin:1"]);

    const result = await controller.done;
    expect(result.code).toBe(0);
    const records = jsonLines(result.stdout).filter((l) => l.event === "record");
    // Connect Record first, the two Records, then the DisconnectRecord the agent sends on exit
    expect(records.map((r) => r.type)).toEqual([
      "mqttConnect",
      "noSessionContext",
      "noSessionContext",
      "disconnect",
    ]);
    expect(records[0]).toMatchObject({
      fromId: ids.agentId,
      mqttVersion: "5",
      subscribedTopic: ids.agentTopic,
    });
    expect(records.slice(1, 3).map((r) => Buffer.from(r.payload as string, "base64").toString())).toEqual([
      "from-file",
      "from-stdin",
    ]);
    expect(records[1]?.replyTo).toMatchObject({ mtp: "mqtt", topic: ids.agentTopic });
  });

  it("without --url it runs on the embedded 3.1.1 broker and says so", async () => {
    const ids = identities();
    const cli = await startCli([
      "agent",
      "--endpoint-id",
      ids.agentId,
      "--response-topic",
      ids.agentTopic,
      "--count",
      "1",
    ]);
    // nothing else can reach an in-process broker: stop it with a signal (a clean exit, code 0)
    cli.stop();
    const result = await cli.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("aedes");
    expect(result.stderr).toContain("3.1.1");
  });
});
