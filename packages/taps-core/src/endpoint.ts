/**
 * Local and Remote Endpoints (-06 §5.1). Several identifiers may be given for one endpoint;
 * they all name the same transport endpoint. A Unix domain socket path is this package's vendor
 * endpoint identifier (`withPath`). A multicast group is an IP address in the multicast range.
 */
import { isIP, isIPv4, isIPv6 } from "node:net";
import { networkInterfaces } from "node:os";
import { EndpointError } from "./errors.js";

export interface StunServer {
  readonly address: string;
  readonly port: number;
  readonly credentials?: unknown;
}

export interface EndpointSnapshot {
  readonly hostnames: readonly string[];
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  readonly port: number | undefined;
  readonly service: string | undefined;
  readonly interfaces: readonly string[];
  readonly path: string | undefined;
  readonly stunServers: readonly StunServer[];
}

function isMulticast(address: string): boolean {
  if (isIPv4(address)) {
    const first = Number(address.split(".")[0]);
    return first >= 224 && first <= 239;
  }
  return isIPv6(address) && address.toLowerCase().startsWith("ff");
}

abstract class Endpoint {
  protected hostnames: string[] = [];
  protected ipv4: string[] = [];
  protected ipv6: string[] = [];
  protected portValue: number | undefined;
  protected serviceValue: string | undefined;
  protected interfaceNames: string[] = [];
  protected pathValue: string | undefined;
  protected stun: StunServer[] = [];

  withHostname(hostname: string): this {
    if (typeof hostname !== "string" || hostname.length === 0 || hostname.length > 253)
      throw new EndpointError(`invalid hostname "${String(hostname)}"`);
    if (isIP(hostname)) {
      return isIPv4(hostname) ? this.withIPv4Address(hostname) : this.withIPv6Address(hostname);
    }
    this.hostnames.push(hostname);
    return this;
  }
  /** RFC 9622 spelling. */
  withHostName(hostname: string): this {
    return this.withHostname(hostname);
  }

  withPort(port: number): this {
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new EndpointError(`invalid port ${String(port)}`);
    this.portValue = port;
    return this;
  }

  /** A service name ("https") resolved through the services table, or a numeric string. */
  withService(service: string): this {
    if (typeof service !== "string" || service.length === 0) throw new EndpointError("invalid service name");
    this.serviceValue = service;
    return this;
  }

  withIPv4Address(address: string): this {
    if (!isIPv4(address)) throw new EndpointError(`"${address}" is not an IPv4 address`);
    this.ipv4.push(address);
    return this;
  }

  withIPv6Address(address: string): this {
    const bare = address.replace(/^\[|\]$/g, "");
    if (!isIPv6(bare)) throw new EndpointError(`"${address}" is not an IPv6 address`);
    this.ipv6.push(bare);
    return this;
  }

  /** RFC 9622 convenience: either family. */
  withIPAddress(address: string): this {
    return isIPv4(address) ? this.withIPv4Address(address) : this.withIPv6Address(address);
  }

  /** An interface name ("lo", "eth0") or "any". */
  withInterface(name: string): this {
    if (typeof name !== "string" || name.length === 0) throw new EndpointError("invalid interface name");
    if (name !== "any" && !(name in networkInterfaces()))
      throw new EndpointError(`no network interface named "${name}"`);
    this.interfaceNames.push(name);
    return this;
  }

  /** Vendor identifier: a Unix domain socket path, or a Linux abstract name starting with "\0". */
  withPath(path: string): this {
    if (typeof path !== "string" || path.length === 0 || path.length > 107)
      throw new EndpointError("invalid Unix socket path (1..107 bytes)");
    this.pathValue = path;
    return this;
  }

  /** Recorded, but Node has no STUN client: an establishment that needs it fails with a clear error. */
  withStunServer(address: string, port: number, credentials?: unknown): this {
    this.stun.push({ address, port, credentials });
    return this;
  }

  /** Whether an address identifier is a multicast group. */
  get isMulticast(): boolean {
    return [...this.ipv4, ...this.ipv6].some(isMulticast);
  }

  /** Immutable copy: changes after Initiate/Listen must not affect the created objects (-06 §6.1). */
  snapshot(): EndpointSnapshot {
    return Object.freeze({
      hostnames: Object.freeze([...this.hostnames]),
      ipv4: Object.freeze([...this.ipv4]),
      ipv6: Object.freeze([...this.ipv6]),
      port: this.portValue,
      service: this.serviceValue,
      interfaces: Object.freeze([...this.interfaceNames]),
      path: this.pathValue,
      stunServers: Object.freeze([...this.stun]),
    });
  }

  toString(): string {
    if (this.pathValue) return `unix:${this.pathValue.replace("\0", "@")}`;
    const host = this.hostnames[0] ?? this.ipv6[0] ?? this.ipv4[0] ?? this.interfaceNames[0] ?? "*";
    const port = this.portValue ?? this.serviceValue ?? "";
    return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  }
}

export class LocalEndpoint extends Endpoint {
  /** Builds a Local Endpoint from a concrete address (used for message contexts). */
  static fromAddress(address: string | undefined, port: number | undefined): LocalEndpoint {
    const ep = new LocalEndpoint();
    if (address && isIP(address)) ep.withIPAddress(address.replace(/^::ffff:(?=\d+\.)/, ""));
    if (port !== undefined) ep.withPort(port);
    return ep;
  }
}

export class RemoteEndpoint extends Endpoint {
  static fromAddress(address: string | undefined, port: number | undefined): RemoteEndpoint {
    const ep = new RemoteEndpoint();
    if (address && isIP(address)) ep.withIPAddress(address.replace(/^::ffff:(?=\d+\.)/, ""));
    if (port !== undefined) ep.withPort(port);
    return ep;
  }
}

/** Read accessors for snapshots of the protected fields. */
export function snapshotOf(endpoint: LocalEndpoint | RemoteEndpoint): EndpointSnapshot {
  return endpoint.snapshot();
}

/** Local addresses of the named interfaces (for binding); "any" maps to the wildcard addresses. */
export function interfaceAddresses(names: readonly string[]): { family: 4 | 6; address: string }[] {
  const out: { family: 4 | 6; address: string }[] = [];
  const table = networkInterfaces();
  for (const name of names) {
    if (name === "any") {
      out.push({ family: 6, address: "::" }, { family: 4, address: "0.0.0.0" });
      continue;
    }
    for (const info of table[name] ?? []) {
      if (info.family === "IPv6" && info.address.startsWith("fe80")) continue; // link-local needs a scope
      out.push({ family: info.family === "IPv4" ? 4 : 6, address: info.address });
    }
  }
  return out;
}

export { isMulticast };
