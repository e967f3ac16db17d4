/** Spawns the built CLI (`bin/usp-record.js` -> `dist/cli.js`; CI builds before testing). */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeRecord } from "../src/index.js";
import { HEADER_HEX, RECORD_VECTORS } from "./vectors.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "usp-record.js");
const samples = join(root, "samples");

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: readonly string[], input?: string | Uint8Array): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, timeout: 30_000, encoding: "buffer", maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== "number") {
          reject(error);
          return;
        }
        resolve({
          code: error === null ? 0 : (error.code as number),
          stdout: stdout.toString("utf8"),
          stderr: stderr.toString("utf8"),
        });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

let dir: string;
beforeAll(async () => {
  if (!existsSync(join(root, "dist", "cli.js")))
    throw new Error("run `pnpm --filter @x/usp-record build` first");
  dir = await mkdtemp(join(tmpdir(), "usp-record-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("usp-record CLI", () => {
  it("--help and --version exit 0; no command exits 2 with help", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("decode");
    expect(help.stdout).toContain("inspect");
    expect(help.stdout).toContain("encode");
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
    const version = await run(["--version"]);
    expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    expect((await run(["decode", "--help"])).stdout).toContain("usp-record decode");
    expect((await run([])).code).toBe(2);
  });

  it("usage errors exit 2", async () => {
    expect((await run(["frobnicate"])).code).toBe(2);
    const badOption = await run(["decode", "--nope", "x"]);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain("usp-record:");
    expect((await run(["decode", "--format", "xml", "x"])).code).toBe(2);
    expect((await run(["decode", join(dir, "missing.hex")])).code).toBe(2);
  });

  it("decodes every bundled sample, several files at once, with --json (uint64 as decimal strings)", async () => {
    const files = (await readdir(samples)).filter((f) => f.endsWith(".hex")).sort();
    expect(files.length).toBeGreaterThanOrEqual(14);
    const result = await run(["decode", "--json", ...files.map((f) => join("samples", f))]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as {
      source: string;
      record: Record<string, unknown>;
      msg?: unknown;
    }[];
    expect(out).toHaveLength(files.length);
    const nearMax = out.find((e) => e.source.includes("near-uint64-max"));
    expect(nearMax?.record.sessionContext).toMatchObject({
      sequenceId: "18446744073709541616",
      sessionId: "2",
    });
    const get = out.find((e) => e.source.includes("golden-no-session-context-get"));
    expect(get?.msg).toEqual({
      header: { msgId: "1", msgType: "GET" },
      body: { request: { get: { paramPaths: ["Device.DeviceInfo."] } } },
    });
    const obuspa = out.find((e) => e.source.includes("obuspa-mqtt"));
    expect(obuspa?.record).toMatchObject({ version: "1.3", mqttConnect: { version: "V5" } });
  });

  it("decodes text output with a summary line and the Msg", async () => {
    const result = await run(["decode", "samples/error-msg-7100.hex"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("noSessionContext v1.4 proto::agent -> proto::controller");
    expect(result.stdout).toContain("err_code 7100");
    expect(result.stdout).toContain('"errMsg": "Record could not be parsed"');
  });

  it("reads hex, base64 and binary from stdin and inline", async () => {
    const ws = RECORD_VECTORS.find((v) => v.name === "websocket_connect")?.hex ?? "";
    const bytes = Buffer.from(ws, "hex");
    for (const input of [ws, bytes.toString("base64"), bytes]) {
      const r = await run(["inspect"], input);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("stdin: websocketConnect");
    }
    const inline = await run(["inspect", "--base64", bytes.toString("base64"), "--hex", ws]);
    expect(inline.stdout.trim().split("\n")).toHaveLength(2);
    const file = join(dir, "ws.bin");
    await writeFile(file, bytes);
    expect((await run(["decode", "--format", "binary", file])).code).toBe(0);
  });

  it("invalid Records exit 1 with the USP error code; valid ones are still printed", async () => {
    const bad = join(dir, "double-oneof.hex");
    await writeFile(bad, `${HEADER_HEX}4a006a00\n`);
    const result = await run(["inspect", bad, "samples/golden-uds-connect.hex"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("INVALID ERR_USP_RECORD_ONEOF (7100)");
    expect(result.stdout).toContain("udsConnect");
    const json = await run(["decode", "--json", bad]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)[0].error).toMatchObject({ code: "ERR_USP_RECORD_ONEOF", uspCode: 7100 });
  });

  it("encodes a Record from JSON (with a Msg) and decodes it back", async () => {
    const json = JSON.stringify({
      version: "1.4",
      toId: "proto::agent",
      fromId: "proto::controller",
      msg: {
        header: { msgId: "1", msgType: "GET" },
        body: { request: { get: { paramPaths: ["Device.DeviceInfo."] } } },
      },
    });
    const encoded = await run(["encode"], json);
    expect(encoded.code).toBe(0);
    const record = decodeRecord(Uint8Array.from(Buffer.from(encoded.stdout.trim(), "hex")));
    expect(record.recordType?.$case).toBe("noSessionContext");
    // decode --json output's record feeds encode and gives the same bytes back
    const sample = "samples/golden-session-context-near-uint64-max.hex";
    const decoded = JSON.parse((await run(["decode", "--json", sample])).stdout)[0].record;
    const again = await run(["encode", "--format", "base64"], JSON.stringify(decoded));
    const original = (await readFile(join(root, sample), "utf8"))
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .join("");
    expect(Buffer.from(again.stdout.trim(), "base64").toString("hex")).toBe(original.trim());
  });

  it("encode rejects invalid Records (exit 1) and bad JSON", async () => {
    const invalid = await run(
      ["encode"],
      JSON.stringify({ version: "1.4", toId: "proto::a", fromId: "proto::b" }),
    );
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("ERR_USP_RECORD_MISSING_FIELD");
    expect((await run(["encode"], "{not json")).code).toBe(1);
    const out = join(dir, "out.bin");
    const ok = await run(
      ["encode", "-f", "binary", "-o", out],
      JSON.stringify({ version: "1.4", toId: "proto::a", fromId: "proto::b", websocketConnect: {} }),
    );
    expect(ok.code).toBe(0);
    expect(decodeRecord(await readFile(out)).recordType?.$case).toBe("websocketConnect");
  });

  it("decode --msg decodes bare Msgs", async () => {
    const r = await run([
      "decode",
      "--msg",
      "--json",
      "--hex",
      "0a050a0131100112180a160a140a124465766963652e446576696365496e666f2e",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)[0].msg.header).toEqual({ msgId: "1", msgType: "GET" });
  });
});
