import { type ComplianceCase, complianceCases, mtpComplianceSuite } from "@x/mtp-compliance";
import { describe, expect, it } from "vitest";
import { type Flaws, loopbackPair } from "./loopback.js";

// A correct in-memory MTP passes every case.
mtpComplianceSuite("reference loopback MTP", (ctx) => loopbackPair(ctx), { orderedRecordCount: 300 });

function caseNamed(flaws: Flaws, fragment: string): ComplianceCase {
  const cases = complianceCases((ctx) => loopbackPair(ctx, flaws), {
    waitTimeoutMs: 400,
    orderedRecordCount: 300,
  });
  const found = cases.find((c) => c.name.includes(fragment));
  if (found === undefined) throw new Error(`no case containing "${fragment}"`);
  return found;
}

describe("the suite catches broken MTPs", () => {
  it("an Agent that never sends its Connect Record", async () => {
    await expect(caseNamed({ skipConnectRecord: true }, "Connect Record before").run()).rejects.toThrow(
      /Connect Record/,
    );
  });
  it("Records delivered out of order", async () => {
    await expect(caseNamed({ reorder: true }, "in order, agent to controller").run()).rejects.toThrow();
  });
  it("no DisconnectRecord on graceful close", async () => {
    await expect(caseNamed({ noDisconnectRecord: true }, "closes gracefully").run()).rejects.toThrow(
      /DisconnectRecord/,
    );
  });
  it("Records for another Endpoint ID delivered", async () => {
    await expect(caseNamed({ deliverForeign: true }, "another Endpoint ID").run()).rejects.toThrow();
  });
  it("no Error Record for an invalid Request (R-MTP.5)", async () => {
    await expect(caseNamed({ noErrorRecord: true }, "R-MTP.5").run()).rejects.toThrow(/Error Record/);
  });
  it("a timer left running after close", async () => {
    await expect(caseNamed({ leakTimer: true }, "no sockets").run()).rejects.toThrow();
  });
  it("every case is registered exactly once", () => {
    const names = complianceCases((ctx) => loopbackPair(ctx)).map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBe(11);
  });
});
