/**
 * Fault test: QoS 1 with persistent sessions on both sides; Mosquitto (with persistence) is
 * killed and restarted in the middle of a stream of 1,000 Records. Every Record must reach the
 * application exactly once (duplicates from redelivery are discarded by the receiver), and both
 * clients must reconnect on the TR-181 schedule (short injected retry parameters).
 */
import { type RunningMosquitto, startMosquitto } from "@x/test-brokers";
import { exponentialRetryWindowMs } from "@x/usp-record/mtp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { MqttMtp, MqttRetryOptions } from "../src/index.js";
import { identities, MtpPool, payloadText, recordBytes, sleep } from "./helpers.js";

const TOTAL = 1000;
const KILL_AFTER = 300;
const WINDOW = 16;
const RETRY: MqttRetryOptions = { connectRetryTime: 0.2, intervalMultiplier: 2000, maxInterval: 2 };

let broker: RunningMosquitto;
const pool = new MtpPool();
beforeAll(async () => {
  // Persistent sessions and QoS 1 messages survive the restart (saved on every change and at shutdown)
  broker = await startMosquitto({
    persistence: true,
    extraConfig: ["autosave_on_changes true", "autosave_interval 1"],
  });
});
afterEach(() => pool.closeAll());
afterAll(() => broker?.dispose());

interface Schedule {
  retries: { attempt: number; delayMs: number; at: number }[];
  attempts: { attempt: number; at: number }[];
  sessions: number;
}

function watchSchedule(mtp: MqttMtp): Schedule {
  const s: Schedule = { retries: [], attempts: [], sessions: 0 };
  mtp.on("retry", (i) => s.retries.push({ attempt: i.attempt, delayMs: i.delayMs, at: performance.now() }));
  mtp.on("attempt", (attempt) => s.attempts.push({ attempt, at: performance.now() }));
  mtp.on("session", () => s.sessions++);
  return s;
}

function expectOnSchedule(s: Schedule): void {
  expect(s.retries.length).toBeGreaterThan(0);
  expect(s.sessions).toBeGreaterThanOrEqual(2);
  let expected = 1;
  for (const r of s.retries) {
    // attempt numbers count up from 1 within an outage
    expect(r.attempt).toBe(expected);
    expected++;
    const [low, high] = exponentialRetryWindowMs(r.attempt, {
      minimumWaitInterval: RETRY.connectRetryTime ?? 0,
      intervalMultiplier: RETRY.intervalMultiplier ?? 0,
      maxInterval: RETRY.maxInterval,
    });
    expect(r.delayMs).toBeGreaterThanOrEqual(low);
    expect(r.delayMs).toBeLessThanOrEqual(high);
    // the attempt starts no earlier than the scheduled delay (a lower bound, never a speed assert)
    const started = s.attempts.find((a) => a.attempt === r.attempt && a.at >= r.at);
    expect(started).toBeDefined();
    expect((started?.at ?? 0) - r.at).toBeGreaterThanOrEqual(r.delayMs - 5);
  }
}

describe("fault: broker restart mid-stream", () => {
  for (const mqttVersion of ["5", "3.1.1"] as const) {
    it(`MQTT ${mqttVersion}: 1,000 QoS 1 Records arrive exactly once across a Mosquitto restart`, async () => {
      const ids = identities();
      const controller = pool.create({
        role: "controller",
        endpointId: ids.controllerId,
        url: broker.url,
        mqttVersion,
        clientId: `fault-ctrl-${mqttVersion}-${ids.controllerId.slice(-8)}`,
        cleanStart: false,
        responseTopic: ids.controllerTopic,
        qos: 1,
        retry: RETRY,
        random: () => 0.5,
      });
      const agent = pool.create({
        role: "agent",
        endpointId: ids.agentId,
        url: broker.url,
        mqttVersion,
        clientId: `fault-agent-${mqttVersion}-${ids.agentId.slice(-8)}`,
        cleanStart: false,
        responseTopic: ids.agentTopic,
        peers: [{ endpointId: ids.controllerId, topic: ids.controllerTopic }],
        qos: 1,
        retry: RETRY,
        random: () => 0.5,
      });
      const controllerSchedule = watchSchedule(controller);
      const agentSchedule = watchSchedule(agent);
      const counts = new Map<string, number>();
      let allReceived: () => void = () => {};
      const done = new Promise<void>((resolve) => {
        allReceived = resolve;
      });
      controller.on("record", (r) => {
        if (r.record.recordType?.$case !== "noSessionContext") return;
        const key = payloadText(r.record);
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (counts.size === TOTAL) allReceived();
      });
      await controller.open();
      await agent.open();

      let restarted: Promise<void> | undefined;
      let next = 0;
      const sendOne = async (): Promise<void> => {
        while (next < TOTAL) {
          const i = next++;
          if (i === KILL_AFTER && restarted === undefined) {
            restarted = (async () => {
              // `kill` in its default sense (SIGTERM): Mosquitto saves its store on the way down. With
              // SIGKILL it can PUBACK a message and die before its autosave, losing it on the broker
              // side whatever the clients do, so that cannot be a test of the clients.
              await broker.stop();
              await sleep(300);
              await broker.restart();
            })();
          }
          await agent.send(ids.controllerId, recordBytes(ids.controllerId, ids.agentId, `rec-${i}`));
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, sendOne));
      await restarted;
      await done;
      // give late redeliveries a moment to show up (they must be dropped as duplicates)
      await sleep(300);

      expect(counts.size).toBe(TOTAL);
      for (let i = 0; i < TOTAL; i++) expect(counts.get(`rec-${i}`)).toBe(1);
      expectOnSchedule(agentSchedule);
      expectOnSchedule(controllerSchedule);
      expect(agent.state).toBe("open");
      expect(controller.state).toBe("open");
      expect(controller.session?.sessionPresent).toBe(true);
    }, 120_000);
  }
});
