/**
 * The hook between SecurityParameters' trust verification callback and @x/cert-validate: the
 * peer chain Node received is re-validated in JS with a cert-validate policy (path validation,
 * USP or STTP rules), independently of OpenSSL's verdict.
 */
import { decidePeer, type PeerVerdict, type TlsPeerPolicy } from "@x/cert-validate";
import type { TrustContext, TrustVerificationCallback } from "./security.js";
import { TRUST_POLICY, type TrustPolicyTag } from "./session-cache.js";

export type { PeerVerdict, TlsPeerPolicy } from "@x/cert-validate";

export interface CertValidateTrustOptions {
  /** Called with cert-validate's verdict when the peer is accepted (endpoint IDs, warnings). */
  readonly onVerdict?: (verdict: PeerVerdict, context: TrustContext) => void;
  /** Called with the rejection (a CertificateRejectedError with findings) when the peer is refused. */
  readonly onReject?: (error: unknown, context: TrustContext) => void;
}

/**
 * A trust verification callback that decides with @x/cert-validate's `policy`. Node's own
 * verdict is ignored (the policy is the gate). The callback carries the policy so the TLS session
 * cache keys sessions by it too: a session accepted under this policy is resumed (without
 * calling the callback, as there is no chain to check) only under an identical policy, and
 * never when `policy.disableResumption` is set.
 */
export function certValidateTrust(
  policy: TlsPeerPolicy,
  options: CertValidateTrustOptions = {},
): TrustVerificationCallback {
  const callback: TrustVerificationCallback = (context) => {
    try {
      const verdict = decidePeer(context.chainDer, policy, false);
      options.onVerdict?.(verdict, context);
      return true;
    } catch (error) {
      options.onReject?.(error, context);
      return false;
    }
  };
  const tag: TrustPolicyTag = { policy, disableResumption: policy.disableResumption === true };
  Object.defineProperty(callback, TRUST_POLICY, { value: tag });
  return callback;
}
