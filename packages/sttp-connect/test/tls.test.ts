import { createPki, type IssuedCertificate, type Pki } from "@x/test-certs";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Publisher, type SecurityWarning, Subscriber, type TlsOptions } from "../src/index.js";
import { definitions, pump, waitForEvent } from "./helpers.js";

const defs = definitions(3);
let pki: Pki;
const open: { close(): Promise<void> }[] = [];
/** The built-in verifier the current test uses (set per describe block). */
let verifier: "cert-validate" | "node" = "cert-validate";

beforeAll(async () => {
  pki = await createPki();
}, 60_000);
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

function serverTls(cert: IssuedCertificate, extra: Partial<TlsOptions> = {}): TlsOptions {
  return { cert: cert.chainPem, key: cert.keyPem, ca: pki.root.certPem, ...extra };
}

function clientTls(extra: Partial<TlsOptions> = {}): TlsOptions {
  return {
    ca: pki.root.certPem,
    cert: pki.agent.chainPem,
    key: pki.agent.keyPem,
    servername: "localhost",
    ...extra,
  };
}

interface Outcome {
  readonly ok: boolean;
  readonly error?: { code?: string; reason?: string; message: string };
  readonly dialWarnings: SecurityWarning[];
  readonly listenWarnings: SecurityWarning[];
  readonly tlsProtocol?: string | undefined;
}

/**
 * Runs one TLS connection in the given direction: the listening side uses `listenTls`, the dialling
 * side `dialTls`. Success means measurements flowed end to end.
 */
async function attempt(
  direction: "forward" | "reverse",
  listenOptions: TlsOptions,
  dialOptions: TlsOptions,
): Promise<Outcome> {
  const listenTls: TlsOptions = { verifier, ...listenOptions };
  const dialTls: TlsOptions = { verifier, ...dialOptions };
  const dialWarnings: SecurityWarning[] = [];
  const listenWarnings: SecurityWarning[] = [];
  const reconnect = { maxRetries: 0, autoReconnect: false };
  const publisher = new Publisher({
    measurements: defs,
    noOpIntervalMs: 0,
    tls: direction === "forward" ? listenTls : dialTls,
    reconnect,
  });
  const subscriber = new Subscriber({
    dataLossIntervalMs: 0,
    tls: direction === "forward" ? dialTls : listenTls,
    reconnect,
    operationalModesTimeoutMs: 3000,
  });
  open.push(subscriber, publisher);
  const listener = direction === "forward" ? publisher : subscriber;
  const dialler = direction === "forward" ? subscriber : publisher;
  (dialler as Subscriber).on("securityWarning", (w: SecurityWarning) => dialWarnings.push(w));
  (listener as Subscriber).on("securityWarning", (w: SecurityWarning) => listenWarnings.push(w));
  const rejected = waitForEvent<[string]>(listener, "warning", (w) => /rejected/.test(w), 15_000).then(
    ([w]) => {
      throw Object.assign(new Error(w), { code: "LISTENER_REJECTED" });
    },
  );
  const run = async (): Promise<string | undefined> => {
    if (direction === "forward") {
      const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
      const info = await subscriber.connect({ host: "127.0.0.1", port });
      await subscriber.subscribe({ filterExpression: "PPA:1;PPA:2" });
      await pump(publisher, subscriber, defs, 4, 10_000);
      return info.tlsProtocol;
    }
    await subscriber.subscribe({ filterExpression: "PPA:1;PPA:2" });
    const { port } = await subscriber.listen({ host: "127.0.0.1", port: 0 });
    const subscribed = waitForEvent(subscriber, "subscribed", () => true, 15_000);
    await publisher.connect({ host: "127.0.0.1", port });
    await subscribed;
    await pump(publisher, subscriber, defs, 4, 10_000);
    return subscriber.session?.tlsProtocol;
  };
  try {
    const tlsProtocol = await Promise.race([run(), rejected]);
    return { ok: true, dialWarnings, listenWarnings, tlsProtocol };
  } catch (error) {
    const e = error as { code?: string; reason?: string; message: string };
    return {
      ok: false,
      error: {
        ...(e.code ? { code: e.code } : {}),
        ...(e.reason ? { reason: e.reason } : {}),
        message: e.message,
      },
      dialWarnings,
      listenWarnings,
    };
  } finally {
    rejected.catch(() => undefined);
  }
}

// Every case runs with both built-in verifiers: @x/cert-validate (default) and Node's verdict.
const matrix = (["cert-validate", "node"] as const).flatMap((v) =>
  (["forward", "reverse"] as const).map((d) => [v, d] as const),
);

describe.each(matrix)("TLS via %s, %s connection", (v, direction) => {
  beforeEach(() => {
    verifier = v;
  });

  it("a trusted chain with mutual TLS passes without warnings on TLS 1.3", async () => {
    const outcome = await attempt(direction, serverTls(pki.server), clientTls());
    expect(outcome).toMatchObject({ ok: true, dialWarnings: [], listenWarnings: [], tlsProtocol: "TLSv1.3" });
  });

  const cases = [
    {
      name: "name mismatch",
      cert: () => pki.wrongName,
      reason: "nameMismatch",
      tolerance: "allowNameMismatch",
    },
    {
      name: "untrusted root",
      cert: () => pki.untrusted,
      reason: "untrustedRoot",
      tolerance: "allowUntrustedRoot",
    },
    { name: "expired", cert: () => pki.expired, reason: "expired", tolerance: "allowExpired" },
  ] as const;

  for (const c of cases) {
    it(`${c.name} fails by default`, async () => {
      const outcome = await attempt(direction, serverTls(c.cert()), clientTls());
      expect(outcome.ok).toBe(false);
      expect(outcome.error).toMatchObject({ code: "ERR_STTP_TLS_POLICY", reason: c.reason });
    });

    it(`${c.name} passes only with ${c.tolerance}, with a warning`, async () => {
      const outcome = await attempt(
        direction,
        serverTls(c.cert()),
        clientTls({ tolerances: { [c.tolerance]: true } }),
      );
      expect(outcome.ok).toBe(true);
      expect(outcome.dialWarnings.map((w) => w.kind)).toEqual([c.tolerance]);
      // another tolerance does not help
      const others = {
        allowNameMismatch: true,
        allowUntrustedRoot: true,
        allowExpired: true,
        [c.tolerance]: false,
      };
      const refused = await attempt(direction, serverTls(c.cert()), clientTls({ tolerances: others }));
      expect(refused.error).toMatchObject({ code: "ERR_STTP_TLS_POLICY", reason: c.reason });
    });
  }

  it("a pinned self-signed certificate passes; unpinned it fails", async () => {
    const selfSigned = pki.selfSigned;
    const listen = { cert: selfSigned.certPem, key: selfSigned.keyPem, ca: pki.root.certPem };
    const pinned = await attempt(direction, listen, clientTls({ pinned: [selfSigned.fingerprint256] }));
    expect(pinned).toMatchObject({ ok: true, dialWarnings: [] });
    const pinnedPem = await attempt(direction, listen, clientTls({ pinned: [selfSigned.certPem] }));
    expect(pinnedPem.ok).toBe(true);
    const unpinned = await attempt(direction, listen, clientTls());
    expect(unpinned.error).toMatchObject({ code: "ERR_STTP_TLS_POLICY", reason: "untrustedRoot" });
  });

  it("mutual TLS without a client certificate fails", async () => {
    const outcome = await attempt(direction, serverTls(pki.server), {
      ca: pki.root.certPem,
      servername: "localhost",
    });
    expect(outcome.ok).toBe(false);
  });

  it("a client certificate is optional only when the listener says so, and then reported", async () => {
    const outcome = await attempt(direction, serverTls(pki.server, { requireClientCertificate: false }), {
      ca: pki.root.certPem,
      servername: "localhost",
    });
    expect(outcome.ok).toBe(true);
    expect(outcome.listenWarnings.map((w) => w.kind)).toEqual(["noClientCertificate"]);
  });

  it("an expired client certificate is refused by the listener", async () => {
    const outcome = await attempt(
      direction,
      serverTls(pki.server),
      clientTls({ cert: pki.expired.chainPem, key: pki.expired.keyPem }),
    );
    expect(outcome.ok).toBe(false);
  });

  it("TLS 1.2 (a peer capped below 1.3) works and is reported on both sides as a legacy version", async () => {
    const outcome = await attempt(direction, serverTls(pki.server, { maxVersion: "TLSv1.2" }), clientTls());
    expect(outcome).toMatchObject({ ok: true, tlsProtocol: "TLSv1.2" });
    expect(outcome.dialWarnings.map((w) => w.kind)).toEqual(["legacyTlsVersion"]);
    expect(outcome.listenWarnings.map((w) => w.kind)).toEqual(["legacyTlsVersion"]);
    const refused = await attempt(
      direction,
      serverTls(pki.server, { maxVersion: "TLSv1.2" }),
      clientTls({ minVersion: "TLSv1.3" }),
    );
    expect(refused.ok).toBe(false);
  });

  it("mutual TLS failure names what went wrong on the listening side", async () => {
    const outcome = await attempt(direction, serverTls(pki.server), {
      ca: pki.root.certPem,
      servername: "localhost",
    });
    expect(outcome.ok).toBe(false);
    expect(outcome.error?.message ?? "").toMatch(/no certificate|closed|rejected|handshake/i);
  });
});

describe("subscriber identity", () => {
  it("the publisher sees the client certificate and can refuse by identity", async () => {
    const seen: string[] = [];
    const publisher = new Publisher({
      measurements: defs,
      noOpIntervalMs: 0,
      tls: serverTls(pki.server),
      acceptSubscriber: ({ peerCertificate }) => {
        seen.push(String(peerCertificate?.subject?.CN));
        return peerCertificate?.subject?.CN === "proto::controller"
          ? true
          : `unknown subscriber ${peerCertificate?.subject?.CN}`;
      },
    });
    open.push(publisher);
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    const refused = new Subscriber({ tls: clientTls(), reconnect: { maxRetries: 0 }, dataLossIntervalMs: 0 });
    open.push(refused);
    await expect(refused.connect({ host: "127.0.0.1", port })).rejects.toMatchObject({
      code: "ERR_STTP_REFUSED",
    });
    const accepted = new Subscriber({
      tls: clientTls({ cert: pki.controller.chainPem, key: pki.controller.keyPem }),
      reconnect: { maxRetries: 0 },
      dataLossIntervalMs: 0,
    });
    open.push(accepted);
    await accepted.connect({ host: "127.0.0.1", port });
    expect(seen).toEqual(["proto::agent", "proto::controller"]);
  });
});

describe.each(["cert-validate", "node"] as const)("revocation via %s", (v) => {
  beforeEach(() => {
    verifier = v;
  });
  it("CRL checking without a CRL for the issuing CA is 'revocation unknown' and tolerable", async () => {
    const rootCrl = await pki.root.issueCrl([]);
    const strict = await attempt("forward", serverTls(pki.server), clientTls({ crl: rootCrl }));
    expect(strict.error).toMatchObject({ code: "ERR_STTP_TLS_POLICY", reason: "revocationUnknown" });
    const tolerated = await attempt(
      "forward",
      serverTls(pki.server),
      clientTls({ crl: rootCrl, tolerances: { allowRevocationUnknown: true } }),
    );
    expect(tolerated.ok).toBe(true);
    expect(tolerated.dialWarnings.map((w) => w.kind)).toEqual(["allowRevocationUnknown"]);
  });
});
