/**
 * Name and service resolution. The resolver is injectable so tests can script answer delays
 * (RFC 8305 §3 resolution delay) without DNS.
 */
import { promises as dns } from "node:dns";
import { readFileSync } from "node:fs";

export interface Resolver {
  /** Addresses of `hostname` in one family; an empty array when there are none. Rejects on failure. */
  lookup(hostname: string, family: 4 | 6): Promise<string[]>;
}

/** getaddrinfo through dns.lookup (honours /etc/hosts), one family per call, so both run in parallel. */
export const systemResolver: Resolver = {
  async lookup(hostname, family) {
    try {
      const answers = await dns.lookup(hostname, { family, all: true });
      return answers.map((a) => a.address);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // "no address of this family" is an empty answer, not a failure
      if (code === "ENODATA" || code === "ENOTFOUND" || code === "EAI_NODATA" || code === "EAI_ADDRFAMILY") {
        if (code === "ENOTFOUND") throw error;
        return [];
      }
      throw error;
    }
  },
};

const WELL_KNOWN: Record<string, number> = {
  http: 80,
  https: 443,
  ssh: 22,
  smtp: 25,
  domain: 53,
  ntp: 123,
  mqtt: 1883,
  "secure-mqtt": 8883,
  stomp: 61613,
  "stomp-ssl": 61614,
  coap: 5683,
  coaps: 5684,
  "http-alt": 8080,
};

let servicesTable: Map<string, number> | undefined;

function loadServices(): Map<string, number> {
  if (servicesTable) return servicesTable;
  servicesTable = new Map(Object.entries(WELL_KNOWN));
  try {
    for (const line of readFileSync("/etc/services", "utf8").split("\n")) {
      const m = /^([A-Za-z0-9._-]+)\s+(\d+)\/(tcp|udp)((?:\s+[A-Za-z0-9._-]+)*)/.exec(line);
      if (!m) continue;
      const port = Number(m[2]);
      for (const name of [m[1]!, ...(m[4] ?? "").trim().split(/\s+/).filter(Boolean)]) {
        if (!servicesTable.has(name)) servicesTable.set(name, port);
      }
    }
  } catch {
    // No /etc/services: the built-in table is enough.
  }
  return servicesTable;
}

/** Port of a service name ("https") or numeric string; undefined when unknown. */
export function servicePort(service: string): number | undefined {
  if (/^\d+$/.test(service)) {
    const n = Number(service);
    return n <= 65535 ? n : undefined;
  }
  return loadServices().get(service.toLowerCase());
}
