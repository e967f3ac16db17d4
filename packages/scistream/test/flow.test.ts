/**
 * The two-facility flow of the seed (Figure 4) on loopback: producer and consumer applications,
 * two S2CS with their S2DS (worker threads), the S2UC driving REQUEST, HELLO, UPDATETARGETS and
 * RELEASE, data over N parallel TLS-PSK channels verified byte for byte.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { generateUid } from "../src/uid.js";
import {
  digestOf,
  eventually,
  exchange,
  type Facility,
  payload,
  startDigestApp,
  startFacility,
} from "./helpers.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function facilities(workers: number) {
  const prod = await startFacility({ s2ds: { workers } });
  const cons = await startFacility({ s2ds: { workers } });
  cleanups.push(prod.close, cons.close);
  return { prod, cons };
}

async function runFlow(prod: Facility, cons: Facility, numConn: number, service?: "SciStreamControl") {
  const app = await startDigestApp();
  cleanups.push(app.close);
  const s2uc = prod.client(service === undefined ? {} : { service });
  const s2ucCons = cons.client(service === undefined ? {} : { service });
  const uid = generateUid();
  const inbound = await s2uc.inboundRequest({ uid, numConn, receivers: [`127.0.0.1:${app.port}`] });
  expect(inbound.listeners).toHaveLength(numConn);
  expect(inbound.prodListeners).toEqual(Array(numConn).fill(`127.0.0.1:${app.port}`));
  expect(prod.s2cs.sessionState(uid)).toBe("ACTIVE");

  const outbound = await s2ucCons.outboundRequest({ uid, numConn, remoteListeners: inbound.listeners });
  expect(outbound.listeners).toHaveLength(numConn);
  expect(outbound.prodListeners).toEqual(inbound.listeners);
  expect(cons.s2cs.sessionState(uid)).toBe("ACTIVE");

  // The consumer application streams a different payload over every channel.
  const payloads = outbound.listeners.map((_, i) => payload(512 * 1024 + i * 1031));
  const answers = await Promise.all(
    outbound.listeners.map((l, i) => exchange(Number(l.split(":")[1]), payloads[i]!)),
  );
  answers.forEach((a, i) => {
    expect(a.toString()).toBe(digestOf(payloads[i]!));
  });

  // Bytes per channel reach the S2CS (stats and Prometheus text).
  const stats = await cons.s2cs.sessionStats(uid);
  expect(stats.map((s) => s.bytesIn).sort((a, b) => a - b)).toEqual(
    payloads.map((p) => p.length).sort((a, b) => a - b),
  );
  const metrics = await cons.s2cs.renderMetrics();
  expect(metrics).toMatch(/^scistream_channel_bytes_in\{.*role="CONS".*\} \d+$/m);
  expect(metrics).toMatch(/^scistream_sessions\{state="ACTIVE"\} 1$/m);

  await s2uc.release(uid);
  await s2ucCons.release(uid);
  expect(prod.s2cs.sessionState(uid)).toBe("RELEASED");
  expect(cons.s2cs.sessionState(uid)).toBe("RELEASED");
  for (const l of [...inbound.listeners, ...outbound.listeners]) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port: Number(l.split(":")[1]) }, () => {
        s.destroy();
        resolve(false);
      });
      s.on("error", () => resolve(true));
    });
    expect(refused).toBe(true);
  }
  for (const f of [prod, cons]) {
    expect(f.s2cs.s2ds.pool.whole).toBe(true);
    await eventually(() => f.s2cs.s2ds.host.workerCount === 0);
  }
}

describe("two-facility flow", () => {
  it("streams over 4 parallel TLS-PSK channels spread over worker threads", async () => {
    const { prod, cons } = await facilities(2);
    await runFlow(prod, cons, 4);
  });

  it("works through the seed's service names (SciStreamControl alias)", async () => {
    const { prod, cons } = await facilities(0);
    await runFlow(prod, cons, 2, "SciStreamControl");
  });

  it("supports the prod-req flow with a separate application controller hello", async () => {
    const { prod } = await facilities(0);
    const app = await startDigestApp();
    cleanups.push(app.close);
    const s2uc = prod.client();
    const appctrl = prod.client({ token: "token-bob-0123456789" });
    const uid = generateUid();
    const req = s2uc.req({ uid, role: "PROD", numConn: 2 });
    const hello = await appctrl.hello({ uid, role: "PROD", prodListeners: [`127.0.0.1:${app.port}`] });
    expect(hello.message).toBe("Sending Prod listeners...");
    const response = await req;
    expect(response.prodListeners).toEqual([`127.0.0.1:${app.port}`]);
    const updated = await s2uc.update({ uid, role: "PROD", remoteListeners: response.prodListeners });
    expect(updated.prodListeners).toHaveLength(2);
    await s2uc.release(uid);
  });
});
