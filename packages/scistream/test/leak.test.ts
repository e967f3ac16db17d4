/**
 * Leak test: 200 sessions created (with their S2DS channels in worker threads) and released.
 * Afterwards no session, port, socket, worker or timer is left, and the pool is whole again.
 */
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { generateUid } from "../src/uid.js";
import { eventually, type Facility, startFacility } from "./helpers.js";

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

let facility: Facility | undefined;
afterAll(async () => {
  await facility?.close();
});

describe("resource leaks", () => {
  it("200 sessions created and released leave nothing behind", { timeout: 180_000 }, async () => {
    const base = 21000 + Math.floor(Math.random() * 30000);
    facility = await startFacility({
      rateLimit: false,
      peerRateLimit: false,
      s2ds: { workers: 2, portRange: { from: base, to: base + 99 } },
    });
    const { s2cs } = facility;
    const client = facility.client();
    // Warm up the gRPC channel so its own sockets and timers are part of the baseline.
    const warm = generateUid();
    await client.reqAndHello(
      { uid: warm, role: "CONS", numConn: 1 },
      { uid: warm, role: "CONS", prodListeners: [] },
    );
    await client.release(warm);
    await eventually(() => s2cs.s2ds.host.workerCount === 0);
    const baseline = resources();

    const seenPorts = new Set<number>();
    const total = 200;
    const batch = 10;
    for (let i = 0; i < total; i += batch) {
      await Promise.all(
        Array.from({ length: batch }, async (_, j) => {
          const uid = generateUid();
          const role = (i + j) % 2 === 0 ? "PROD" : "CONS";
          const [response] = await client.reqAndHello(
            { uid, role, numConn: 3 },
            { uid, role, prodListeners: role === "PROD" ? ["127.0.0.1:9"] : [] },
          );
          for (const l of response.listeners) seenPorts.add(Number(l.split(":")[1]));
          await client.update({ uid, role, remoteListeners: ["127.0.0.1:9"] });
          await client.release(uid);
        }),
      );
    }

    expect(s2cs.listSessions()).toHaveLength(0);
    expect(s2cs.s2ds.sessionCount).toBe(0);
    expect(s2cs.s2ds.pool.whole).toBe(true);
    expect(s2cs.s2ds.host.channelCount).toBe(0);
    // 600 channels went through a 100-port pool: ports were really returned and reused.
    expect(seenPorts.size).toBeLessThanOrEqual(100);
    await eventually(() => s2cs.s2ds.host.workerCount === 0);
    await eventually(() => {
      const now = resources();
      return Object.entries(now).every(([k, n]) => n <= (baseline[k] ?? 0));
    });
    // Nothing listens on the pool any more.
    for (const port of [...seenPorts].slice(0, 20)) {
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port }, () => {
          s.destroy();
          resolve(false);
        });
        s.on("error", () => resolve(true));
      });
      expect(refused).toBe(true);
    }
  });
});
