/** Drives two E2E engines over a simulated link with a virtual clock (no sockets, no real time). */
import { E2ESession, type E2ESessionOptions } from "../src/session/index.js";

export { type LinkProfile, prng, SimulatedLink } from "../src/session/simulation.js";

export const AGENT = "proto::agent";
export const CONTROLLER = "proto::controller";

export function pair(
  common: Partial<E2ESessionOptions> = {},
  agentExtra: Partial<E2ESessionOptions> = {},
  controllerExtra: Partial<E2ESessionOptions> = {},
): { agent: E2ESession; controller: E2ESession } {
  return {
    agent: new E2ESession({
      localEndpointId: AGENT,
      remoteEndpointId: CONTROLLER,
      role: "agent",
      ...common,
      ...agentExtra,
    }),
    controller: new E2ESession({
      localEndpointId: CONTROLLER,
      remoteEndpointId: AGENT,
      role: "controller",
      ...common,
      ...controllerExtra,
    }),
  };
}
