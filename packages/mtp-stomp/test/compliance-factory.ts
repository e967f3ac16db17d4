/** The compliance-suite factory for the STOMP MTP, for any broker the tests started. */
import type { MtpPair, PairContext } from "@x/mtp-compliance";
import { createStompMtp, type StompBrokerOptions } from "../src/mtp.js";
import { uniqueName } from "./helpers.js";

export interface BrokerHandle {
  /** Connection options for the current broker. */
  readonly options: () => StompBrokerOptions;
  /** Abruptly stop the broker and start it again on the same ports. */
  readonly restart: () => Promise<void>;
}

export function stompPairFactory(broker: BrokerHandle): (context: PairContext) => Promise<MtpPair> {
  return async ({ retry, index }) => {
    const name = uniqueName(`cmp${index}`);
    const agentId = `proto::agent-${name}`;
    const controllerId = `proto::controller-${name}`;
    const agentDest = `/queue/usp.agent.${name}`;
    const controllerDest = `/queue/usp.controller.${name}`;
    const common = { broker: broker.options(), retry: retry.stomp, sendTimeoutMs: 60_000 } as const;
    const controller = createStompMtp({
      ...common,
      role: "controller",
      endpointId: controllerId,
      destination: controllerDest,
    });
    const agent = createStompMtp({
      ...common,
      role: "agent",
      endpointId: agentId,
      destination: agentDest,
      peers: [{ endpointId: controllerId, destination: controllerDest }],
    });
    return {
      agent: { mtp: agent, endpointId: agentId },
      controller: { mtp: controller, endpointId: controllerId },
      openOrder: ["controller", "agent"],
      restartPeer: broker.restart,
      async teardown() {},
    };
  };
}
