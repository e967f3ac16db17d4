/**
 * Typed errors. TAPS treats errors as events (-06 §2); each error event carries one of these
 * classes. Errors in the caller's input that can be detected at once (unknown property names,
 * wrong value types, invalid endpoints, read-only properties) are thrown synchronously, as -06 §2
 * recommends; establishment failures, including selection, arrive as events.
 */

export type TapsErrorCode =
  | "ERR_TAPS_INITIATE"
  | "ERR_TAPS_LISTEN"
  | "ERR_TAPS_RENDEZVOUS"
  | "ERR_TAPS_CLONE"
  | "ERR_TAPS_SEND"
  | "ERR_TAPS_EXPIRED"
  | "ERR_TAPS_RECEIVE"
  | "ERR_TAPS_CONNECTION"
  | "ERR_TAPS_PROPERTY"
  | "ERR_TAPS_ENDPOINT"
  | "ERR_TAPS_STATE"
  | "ERR_TAPS_FRAMER";

/** Why an establishment or transfer failed, machine-readable. */
export type TapsReason =
  | "selection" // no protocol stack meets the Require/Prohibit properties
  | "resolution" // a name could not be resolved
  | "unreachable" // every candidate failed
  | "timeout"
  | "security" // TLS handshake or trust verification failed
  | "refused"
  | "message-too-large"
  | "inconsistent-properties"
  | "closed"
  | "aborted"
  | "reset"
  | "framing"
  | "final"
  | "direction"
  | "stack"
  | "invalid";

export interface TapsErrorOptions {
  readonly reason?: TapsReason;
  /** The property that made selection fail, when there is one. */
  readonly property?: string;
  readonly cause?: unknown;
}

/** Base class of every error of this package. */
export class TapsError extends Error {
  readonly code: TapsErrorCode;
  readonly reason: TapsReason | undefined;
  readonly property: string | undefined;
  /** The operating-system error code of the cause (e.g. `ECONNREFUSED`), when there is one. */
  readonly syscallCode: string | undefined;

  constructor(code: TapsErrorCode, message: string, options: TapsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.reason = options.reason;
    this.property = options.property;
    const causeCode = (options.cause as { code?: unknown } | undefined)?.code;
    this.syscallCode = typeof causeCode === "string" ? causeCode : undefined;
  }
}

/** -06 InitiateError; RFC 9622 calls it EstablishmentError. */
export class InitiateError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_INITIATE", message, options);
  }
}
/** RFC 9622 name of {@link InitiateError}. */
export const EstablishmentError = InitiateError;

export class ListenError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_LISTEN", message, options);
  }
}

export class RendezvousError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_RENDEZVOUS", message, options);
  }
}

export class CloneError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_CLONE", message, options);
  }
}

export class SendError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_SEND", message, options);
  }
}

/** The Message's `msg-lifetime` elapsed before it could be sent (-06 §7.3.2). */
export class ExpiredError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_EXPIRED", message, options);
  }
}

export class ReceiveError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_RECEIVE", message, options);
  }
}

export class ConnectionError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_CONNECTION", message, options);
  }
}

/** An unknown property, a wrong value type, or a read-only property set (thrown synchronously). */
export class PropertyError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_PROPERTY", message, { reason: "invalid", ...options });
  }
}

export class EndpointError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_ENDPOINT", message, { reason: "invalid", ...options });
  }
}

/** An action that is not allowed in the object's current state (thrown synchronously). */
export class StateError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_STATE", message, options);
  }
}

export class FramerError extends TapsError {
  constructor(message: string, options: TapsErrorOptions = {}) {
    super("ERR_TAPS_FRAMER", message, { reason: "framing", ...options });
  }
}
