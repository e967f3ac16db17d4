/**
 * MessageContext (-06 §7.4): Message properties, framer metadata scoped by framer, the endpoints
 * of a received Message, reply(). A context cannot be changed once used in Send (-06 §7.5).
 */
import type { LocalEndpoint, RemoteEndpoint } from "./endpoint.js";
import { PropertyError, StateError } from "./errors.js";
import { canonicalName, lookupProperty } from "./properties.js";

const NO_SCOPE = Symbol("message-properties");

export class MessageContext {
  #values: Map<unknown, Map<string, unknown>> | undefined;
  #frozen = false;
  /** Set on received Messages and on contexts returned by send events. */
  remoteEndpoint: RemoteEndpoint | undefined;
  localEndpoint: LocalEndpoint | undefined;
  /** Receive metadata (-06 §8.3.3): the peer signalled the end of its sending direction after this Message. */
  final = false;
  /** Receive metadata (-06 §8.3.2): always false on Node (no TLS early data). */
  readonly earlyData = false;
  #originalRequest: MessageContext | undefined;
  /** @internal reply routing: the connection that received the request. */
  replyTarget: unknown;

  /**
   * add(property, value) sets a Message property; add(framer, key, value) sets framer metadata.
   */
  add(...args: [property: string, value: unknown] | [scope: unknown, key: string, value: unknown]): this {
    const [scopeOrProperty, propertyOrValue, value] = args as [unknown, unknown, unknown];
    if (this.#frozen) throw new StateError("a MessageContext cannot be changed after it was used in Send");
    let scope: unknown;
    let key: string;
    let v: unknown;
    if (args.length >= 3) {
      scope = scopeOrProperty;
      key = String(propertyOrValue);
      v = value;
    } else {
      scope = NO_SCOPE;
      key = canonicalName(String(scopeOrProperty));
      const r = lookupProperty(key);
      if (r && r.kind !== "message")
        throw new PropertyError(`${r.name} is not a Message property`, { property: r.name });
      v = propertyOrValue;
      if (key === "final" || key === "idempotent" || key === "msg-ordered" || key === "msg-reliable") {
        if (typeof v !== "boolean") throw new PropertyError(`${key} takes a boolean`, { property: key });
      } else if ((key === "msg-lifetime" || key === "msg-prio") && (typeof v !== "number" || !(v >= 0))) {
        throw new PropertyError(`${key} takes a non-negative number`, { property: key });
      }
    }
    this.#values ??= new Map();
    let map = this.#values.get(scope);
    if (!map) this.#values.set(scope, (map = new Map()));
    map.set(key, v);
    return this;
  }

  /** True when nothing was added (the default Message properties apply). */
  get isEmpty(): boolean {
    return this.#values === undefined;
  }

  /** get(property) or get(framer, key). */
  get(scopeOrProperty: unknown, property?: string): unknown {
    if (this.#values === undefined) return undefined;
    if (property === undefined) {
      return this.#values?.get(NO_SCOPE)?.get(canonicalName(String(scopeOrProperty)));
    }
    return this.#values?.get(scopeOrProperty)?.get(property);
  }

  /** Whether a Message property was set explicitly. */
  has(property: string): boolean {
    return this.#values?.get(NO_SCOPE)?.has(canonicalName(property)) ?? false;
  }

  getRemoteEndpoint(): RemoteEndpoint | undefined {
    return this.remoteEndpoint;
  }
  getLocalEndpoint(): LocalEndpoint | undefined {
    return this.localEndpoint;
  }

  /** -06 §7.2: a context for a reply, routed back where the request came from. */
  reply(): MessageContext {
    const ctx = new MessageContext();
    ctx.#originalRequest = this;
    ctx.replyTarget = this.replyTarget;
    ctx.remoteEndpoint = this.remoteEndpoint;
    return ctx;
  }

  getOriginalRequest(): MessageContext | undefined {
    return this.#originalRequest;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  /** @internal */
  freeze(): void {
    this.#frozen = true;
  }
}
