import { afterEach, describe, expect, it } from "vitest";
import { type MeasurementDefinition, Publisher, Subscriber } from "../src/index.js";
import { definitions, pump, waitForEvent } from "./helpers.js";

/** PPA:1..8: odd ids FREQ, even VPHM; devices SHELBY-A (1-4) and OTHER (5-8). */
const defs: MeasurementDefinition[] = definitions(8).map((d, i) => ({
  ...d,
  signalType: i % 2 === 0 ? "FREQ" : "VPHM",
  deviceAcronym: i < 4 ? "SHELBY-A" : "OTHER",
}));
const key = (id: number) => `PPA:${id}`;
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

async function connected() {
  const publisher = new Publisher({ measurements: defs, noOpIntervalMs: 0 });
  const subscriber = new Subscriber({
    dataLossIntervalMs: 0,
    reconnect: { retryIntervalMs: 100, jitter: 0 },
  });
  open.push(subscriber, publisher);
  return { publisher, subscriber };
}

const cases = [
  { filter: "FILTER ActiveMeasurements WHERE SignalType = 'FREQ'", ids: [1, 3, 5, 7], unmatched: [] },
  {
    filter: "FILTER TOP 3 ActiveMeasurements WHERE SignalAcronym <> 'STAT' ORDER BY PointTag DESC",
    ids: [8, 7, 6],
    unmatched: [],
  },
  {
    filter: "PPA:8; FILTER ActiveMeasurements WHERE Device LIKE 'SHELBY%'",
    ids: [8, 1, 2, 3, 4],
    unmatched: [],
  },
  {
    filter:
      "PPA:99; FILTER ActiveMeasurements WHERE Device = 'OTHER' AND SignalType IN ('VPHM') ORDER BY ID DESC",
    ids: [8, 6],
    unmatched: ["PPA:99"],
  },
] as const;

describe.each(["forward", "reverse"] as const)("FILTER subscriptions, %s connection", (direction) => {
  for (const c of cases) {
    it(c.filter, async () => {
      const { publisher, subscriber } = await connected();
      const subscribedOnPublisher = waitForEvent<
        [unknown, { signals: number; unmatched: readonly string[] }]
      >(publisher, "subscribed");
      if (direction === "forward") {
        const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
        await subscriber.connect({ host: "127.0.0.1", port });
        await subscriber.subscribe({ filterExpression: c.filter });
      } else {
        await subscriber.subscribe({ filterExpression: c.filter });
        const { port } = await subscriber.listen({ host: "127.0.0.1", port: 0 });
        const subscribed = waitForEvent(subscriber, "subscribed");
        await publisher.connect({ host: "127.0.0.1", port });
        await subscribed;
      }
      const [, info] = await subscribedOnPublisher;
      expect(info.signals).toBe(c.ids.length);
      expect(info.unmatched).toEqual(c.unmatched);
      expect(subscriber.signalIndexCache?.entries.map((e) => `${e.source}:${e.id}`)).toEqual(c.ids.map(key));
      const received = await pump(publisher, subscriber, defs, 4 * c.ids.length);
      const wanted = new Set(c.ids.map((id) => defs[id - 1]?.signalId));
      expect(new Set(received.map((m) => m.signalId))).toEqual(wanted);
    });
  }
});

describe("FILTER errors and metadata filters", () => {
  it("a FILTER with a syntax error fails Subscribe with the position", async () => {
    const { publisher, subscriber } = await connected();
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    await subscriber.connect({ host: "127.0.0.1", port });
    await expect(
      subscriber.subscribe({ filterExpression: "FILTER ActiveMeasurements WHERE SignalType = = 'FREQ'" }),
    ).rejects.toMatchObject({
      code: "ERR_STTP_COMMAND_FAILED",
      commandCode: 0x02,
      message: expect.stringMatching(/position 45/),
    });
    // The connection stays usable.
    const info = await subscriber.subscribe({
      filterExpression: "FILTER ActiveMeasurements WHERE ID = 'PPA:2'",
    });
    expect(info?.cache.entries.map((e) => e.id)).toEqual([2n]);
  });

  it("a FILTER matching nothing subscribes to no signals", async () => {
    const { publisher, subscriber } = await connected();
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    await subscriber.connect({ host: "127.0.0.1", port });
    const info = await subscriber.subscribe({
      filterExpression: "FILTER ActiveMeasurements WHERE SignalType = 'STAT'",
    });
    expect(info?.cache.size).toBe(0);
  });

  it("MetadataRefresh filters select MeasurementDetail rows", async () => {
    const { publisher, subscriber } = await connected();
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    await subscriber.connect({ host: "127.0.0.1", port });
    const all = await subscriber.requestMetadata();
    expect(all.match(/<MeasurementDetail>/g)).toHaveLength(8);
    const some = await subscriber.requestMetadata(
      "FILTER MeasurementDetail WHERE SignalAcronym = 'VPHM'; FILTER DeviceDetail WHERE Acronym = 'X'",
    );
    expect(some.match(/<MeasurementDetail>/g)).toHaveLength(4);
    expect(some).toContain("<ID>PPA:2</ID>");
    expect(some).not.toContain("<ID>PPA:1</ID>");
    await expect(subscriber.requestMetadata("FILTER MeasurementDetail WHERE (")).rejects.toMatchObject({
      code: "ERR_STTP_COMMAND_FAILED",
      commandCode: 0x01,
    });
  });
});
