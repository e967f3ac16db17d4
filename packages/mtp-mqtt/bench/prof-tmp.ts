import { startMosquitto } from "@x/test-brokers";
import { encodeRecord, noSessionContextRecord } from "@x/usp-record";
import { createMqttMtp } from "../src/index.js";

const broker = await startMosquitto();
const url = broker.url;
const controller = createMqttMtp({
  role: "controller",
  endpointId: "self::c",
  url,
  qos: 0,
  responseTopic: "b/c",
});
await controller.open();
const agent = createMqttMtp({
  role: "agent",
  endpointId: "os::a",
  url,
  qos: 0,
  responseTopic: "b/a",
  peers: [{ endpointId: "self::c", topic: "b/c" }],
});
let n = 0;
let wake = () => {};
let target = 0;
controller.on("record", () => {
  n++;
  if (n >= target) wake();
});
await agent.open();
const t0 = performance.now();
for (let s = 0; s < 20; s++) {
  const recs = Array.from({ length: 2000 }, (_, i) =>
    encodeRecord(
      noSessionContextRecord({
        toId: "self::c",
        fromId: "os::a",
        payload: Buffer.from(`p-${s}-${i}-${"x".repeat(60)}`),
      }),
    ),
  );
  target = n + 2000;
  const done = new Promise<void>((r) => {
    wake = r;
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < recs.length) {
        await agent.send("self::c", recs[next++]!);
      }
    }),
  );
  if (n < target) await done;
}
console.log("rate", (40000 * 1000) / (performance.now() - t0));
await agent.close({ abrupt: true });
await controller.close({ abrupt: true });
await broker.dispose();
