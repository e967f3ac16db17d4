/** The built CLI, spawned as users run it (CI builds before testing). */
import { afterEach, describe, expect, it } from "vitest";
import { cli } from "./cli-helper.js";
import { FakeBroker } from "./fake-broker.js";

const brokers: FakeBroker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.stop();
});

describe("mtp-stomp CLI", () => {
  it("prints help and version", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: mtp-stomp <agent|controller>");
    const version = await cli(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("exits 2 on usage errors", async () => {
    for (const args of [
      [],
      ["relay", "--host", "h", "--endpoint-id", "proto::a"],
      ["agent", "--endpoint-id", "proto::a"],
      ["agent", "--host", "127.0.0.1"],
      ["agent", "--host", "h", "--endpoint-id", "proto::a", "--port", "0"],
      ["agent", "--host", "h", "--endpoint-id", "proto::a", "--peer", "nodest"],
      ["agent", "--host", "h", "--endpoint-id", "proto::a", "--send-hex", "abc"],
      ["agent", "--no-such-flag"],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^mtp-stomp: /);
    }
  });

  it("exits 1 when --count is not reached before --timeout", async () => {
    const broker = await new FakeBroker().start();
    brokers.push(broker);
    const r = await cli([
      "controller",
      "--host",
      "127.0.0.1",
      "--port",
      String(broker.port),
      "--endpoint-id",
      "proto::controller",
      "--destination",
      "/queue/c",
      "--count",
      "1",
      "--timeout",
      "1",
      "--json",
    ]);
    expect(r.code).toBe(1);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: string });
    expect(events.map((e) => e.event)).toContain("open");
    expect(r.stderr).toContain("timed out after 0 of 1");
  });
});
