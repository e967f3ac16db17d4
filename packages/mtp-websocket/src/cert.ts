/**
 * The TR-369 certificate decision flow of `@x/cert-validate` ("Receiving a X.509 Certificate",
 * R-MTP.1 to R-MTP.4a) as a `verifyPeer` hook for either side of the WebSocket MTP.
 */
import { type TlsPeerPolicy, type UspContext, verifyTlsPeer } from "@x/cert-validate";
import type { VerifyPeer } from "./options.js";

/** The USP context minus what the MTP knows itself (who initiated, the target). */
export type Tr369PeerContext = Omit<UspContext, "cachedSession" | "initiatedBySelf" | "target"> & {
  /** Default: the host we connected to and the peer Endpoint ID the session expects. */
  readonly target?: UspContext["target"];
};

/**
 * A `verifyPeer` hook running `@x/cert-validate`'s TR-369 flow on the peer chain. Use it with
 * Node's verification on (default) for defence in depth, or with `nodeVerification: false` to make
 * it the only gate (needed for R-MTP.2, an Agent without accurate time: `time: "none"`).
 */
export function tr369VerifyPeer(
  context: Tr369PeerContext,
  options: Pick<TlsPeerPolicy, "trustResumedSessions" | "disableResumption"> = {},
): VerifyPeer {
  return (peer) => {
    const target =
      context.target ??
      (peer.side === "client"
        ? {
            ...(peer.url !== undefined ? { url: peer.url } : {}),
            ...(peer.endpointId !== undefined ? { endpointId: peer.endpointId } : {}),
          }
        : undefined);
    verifyTlsPeer(peer.socket, {
      kind: "usp",
      context: { ...context, initiatedBySelf: peer.side === "client", target },
      ...options,
    });
  };
}
