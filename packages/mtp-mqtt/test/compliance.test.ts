/**
 * The shared MTP compliance suite (tools/mtp-compliance) for Agent and Controller over a real
 * Mosquitto: MQTT 5, 3.1.1 and mixed (3.1.1 Agent, 5.0 Controller), over TCP and TLS.
 */
import { mtpComplianceSuite } from "@x/mtp-compliance";
import { type RunningMosquitto, startMosquitto } from "@x/test-brokers";
import { createPki } from "@x/test-certs";
import type { ExponentialRetryParameters } from "@x/usp-record/mtp";
import { afterAll, beforeAll, describe } from "vitest";
import { createMqttMtp, type MqttRetryOptions, type MqttTlsOptions, type MqttVersion } from "../src/index.js";
import { identities } from "./helpers.js";

let broker: RunningMosquitto;
let tlsOptions: MqttTlsOptions;

beforeAll(async () => {
  const pki = await createPki();
  tlsOptions = { ca: pki.root.certPem };
  // Persistence (saved on every change) so the Controller's persistent session and the Records
  // queued for it survive the peer-restart case, as they would with a production broker.
  broker = await startMosquitto({
    persistence: true,
    extraConfig: ["autosave_on_changes true", "autosave_interval 1"],
    tls: { certPem: pki.server.chainPem, keyPem: pki.server.keyPem, caPem: pki.root.certPem },
  });
});
afterAll(() => broker?.dispose());

function mqttRetry(p: ExponentialRetryParameters): MqttRetryOptions {
  return {
    connectRetryTime: p.minimumWaitInterval,
    intervalMultiplier: p.intervalMultiplier,
    ...(p.maxInterval === undefined ? {} : { maxInterval: p.maxInterval }),
  };
}

const VERSIONS: { name: string; agent: MqttVersion; controller: MqttVersion }[] = [
  { name: "MQTT 5", agent: "5", controller: "5" },
  { name: "MQTT 3.1.1", agent: "3.1.1", controller: "3.1.1" },
  { name: "mixed 3.1.1 Agent / 5.0 Controller", agent: "3.1.1", controller: "5" },
];

for (const transport of ["tcp", "tls"] as const) {
  for (const v of VERSIONS) {
    describe(`mqtt over ${transport}`, () => {
      mtpComplianceSuite(`${v.name}, Mosquitto, ${transport}`, async ({ retry }) => {
        const ids = identities();
        const url = transport === "tls" ? (broker.tlsUrl ?? "") : broker.url;
        const tls = transport === "tls" ? { tls: tlsOptions } : {};
        const controller = createMqttMtp({
          role: "controller",
          endpointId: ids.controllerId,
          url,
          mqttVersion: v.controller,
          // a persistent session: Records sent while it is away (broker restart) wait for it
          clientId: `ctrl-${ids.controllerId.slice(7)}`,
          cleanStart: false,
          responseTopic: ids.controllerTopic,
          ...(v.controller === "5" && v.agent === "3.1.1"
            ? { subscriptions: [`${ids.controllerTopic}/#`] }
            : {}),
          retry: mqttRetry(retry.exponential),
          ...tls,
        });
        const agent = createMqttMtp({
          role: "agent",
          endpointId: ids.agentId,
          url,
          mqttVersion: v.agent,
          responseTopic: ids.agentTopic,
          peers: [{ endpointId: ids.controllerId, topic: ids.controllerTopic }],
          retry: mqttRetry(retry.exponential),
          ...tls,
        });
        return {
          agent: { mtp: agent, endpointId: ids.agentId },
          controller: { mtp: controller, endpointId: ids.controllerId },
          openOrder: ["controller", "agent"],
          async restartPeer() {
            await broker.kill();
            await broker.restart();
          },
          async teardown() {},
        };
      });
    });
  }
}
