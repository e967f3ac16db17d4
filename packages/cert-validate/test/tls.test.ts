import { once } from "node:events";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import { createPki, type IssuedCertificate, type Pki, tlsOptions } from "@x/test-certs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CertificateRejectedError,
  createSecureServer,
  type PeerVerdict,
  type TlsPeerPolicy,
  tlsConnect,
} from "../src/index.js";

let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
}, 60_000);

const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

/** A plain TLS server presenting `leaf` that greets every client; returns its port. */
async function greetingServer(leaf: IssuedCertificate, extra: tls.TlsOptions = {}): Promise<number> {
  const server = tls.createServer({ ...tlsOptions(leaf), ...extra }, (s) => {
    s.on("error", () => {});
    s.end("hello");
  });
  server.on("tlsClientError", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanup.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

const usp = (over: Record<string, unknown> = {}): TlsPeerPolicy => ({
  kind: "usp",
  context: {
    initiatedBySelf: true,
    target: { host: "localhost" },
    time: new Date(),
    anchors: [pki.root.certPem],
    ...over,
  },
});

async function readAll(socket: tls.TLSSocket): Promise<string> {
  let data = "";
  socket.setEncoding("utf8");
  socket.on("data", (d) => {
    data += d;
  });
  await once(socket, "end");
  return data;
}

async function rejection(p: Promise<unknown>): Promise<CertificateRejectedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CertificateRejectedError);
  return err as CertificateRejectedError;
}

describe("tlsConnect: client re-validates the server on a real loopback socket", () => {
  it("good chain passes and application data flows after the verdict", async () => {
    const port = await greetingServer(pki.controller);
    const { socket, verdict } = await tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      peerPolicy: usp(),
    });
    cleanup.push(() => socket.destroy());
    expect(verdict.usp?.decision).toBe("establish");
    expect(verdict.endpointIds).toContain("proto::controller");
    expect(verdict.chain.length).toBeGreaterThanOrEqual(2);
    expect(await readAll(socket)).toBe("hello");
  });
  it.each([
    ["expired", () => pki.expired, "dates", "CERT_EXPIRED"],
    ["wrong name", () => pki.wrongName, "identity", "NAME_MISMATCH"],
    ["untrusted", () => pki.untrusted, "tofu", "TOFU_REFUSED"],
  ])("%s is rejected with the failing step in the trace", async (_n, leaf, step, code) => {
    const port = await greetingServer(leaf());
    const err = await rejection(
      tlsConnect({ host: "127.0.0.1", port, servername: "localhost", peerPolicy: usp() }),
    );
    expect(err.code).toBe("ERR_CERT_REJECTED");
    expect(err.trace.find((s) => s.step === step)).toMatchObject({
      branch: expect.stringMatching(/no|yes|skipped/),
      code,
    });
  });
  it("wrong Controller Endpoint ID is rejected at identity", async () => {
    const port = await greetingServer(pki.controller);
    const err = await rejection(
      tlsConnect({
        host: "127.0.0.1",
        port,
        servername: "controller.example",
        peerPolicy: usp({ target: { host: "controller.example", endpointId: "proto::someone-else" } }),
      }),
    );
    expect(err.trace.find((s) => s.step === "identity")).toMatchObject({
      branch: "no",
      code: "EID_MISMATCH",
    });
  });
  it("revoked server certificate is rejected at the revocation step", async () => {
    const crl = await pki.intermediate.issueCrl([pki.controller.certificate.serialNumber]);
    const port = await greetingServer(pki.controller);
    const err = await rejection(
      tlsConnect({ host: "127.0.0.1", port, servername: "localhost", peerPolicy: usp({ crls: crl }) }),
    );
    expect(err.trace.find((s) => s.step === "revoked")).toMatchObject({
      branch: "yes",
      code: "CERT_REVOKED",
    });
  });
  it("the masking scenario: no time + expired leaf of an untrusted CA is rejected though OpenSSL reports only expiry", async () => {
    const leaf = await pki.untrustedRoot.issueLeaf({
      dns: ["localhost"],
      notBefore: new Date(Date.now() - 9e8),
      notAfter: new Date(Date.now() - 1e8),
    });
    const port = await greetingServer(leaf);
    const err = await rejection(
      tlsConnect({ host: "127.0.0.1", port, servername: "localhost", peerPolicy: usp({ time: "none" }) }),
    );
    expect(err.errors.map((e) => e.code)).toContain("CHAIN_NO_ANCHOR");
  });
  it("STTP policy with a pinned self-signed server", async () => {
    const port = await greetingServer(pki.selfSigned);
    const { socket, verdict } = await tlsConnect({
      host: "127.0.0.1",
      port,
      peerPolicy: { kind: "sttp", policy: { anchors: [pki.selfSigned.certPem], ip: "127.0.0.1" } },
    });
    cleanup.push(() => socket.destroy());
    expect(verdict.sttp?.ok).toBe(true);
    expect(await readAll(socket)).toBe("hello");
  });
});

describe("resumed TLS sessions (Node skips identity checks on resumption)", () => {
  async function firstSession(port: number): Promise<Buffer> {
    const { socket } = await tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      peerPolicy: usp(),
      maxVersion: "TLSv1.2",
    });
    const session = socket.getSession();
    await readAll(socket);
    socket.destroy();
    expect(session).toBeDefined();
    return session!;
  }
  it("a resumed session is still decided by the policy (wrong host is rejected)", async () => {
    const port = await greetingServer(pki.controller);
    const session = await firstSession(port);
    const err = await rejection(
      tlsConnect({
        host: "127.0.0.1",
        port,
        servername: "localhost",
        session,
        maxVersion: "TLSv1.2",
        peerPolicy: usp({ target: { host: "evil.example" } }),
      }),
    );
    expect(err.errors.length).toBeGreaterThan(0);
  });
  it("a resumed session without trustResumedSessions fails closed: the peer does not resend its chain", async () => {
    const port = await greetingServer(pki.controller);
    const session = await firstSession(port);
    const err = await rejection(
      tlsConnect({
        host: "127.0.0.1",
        port,
        servername: "localhost",
        session,
        maxVersion: "TLSv1.2",
        peerPolicy: usp(),
      }),
    );
    expect(err.code).toBe("ERR_CERT_NO_PEER_CERTIFICATE");
    expect(err.message).toMatch(/resumed/);
  });
  it("TLS 1.3 resumption (session ticket) also fails closed by default", async () => {
    const port = await greetingServer(pki.controller);
    // Plain client for the first connection so the ticket listener exists before any data is read.
    const first = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: pki.root.certPem });
    const ticket = new Promise<Buffer>((res) => first.once("session", res));
    first.on("error", () => {});
    cleanup.push(() => first.destroy());
    const session = await ticket;
    first.destroy();
    const err = await rejection(
      tlsConnect({ host: "127.0.0.1", port, servername: "localhost", session, peerPolicy: usp() }),
    );
    expect(err.code).toBe("ERR_CERT_NO_PEER_CERTIFICATE");
  });
  it("trustResumedSessions maps resumption to the figure's cached session", async () => {
    const port = await greetingServer(pki.controller);
    const session = await firstSession(port);
    const { socket, verdict } = await tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      session,
      maxVersion: "TLSv1.2",
      peerPolicy: { ...usp(), trustResumedSessions: true },
    });
    cleanup.push(() => socket.destroy());
    expect(verdict.resumed).toBe(true);
    expect(verdict.usp?.basis).toBe("cached-session");
  });
  it("disableResumption never offers the old session", async () => {
    const port = await greetingServer(pki.controller);
    const session = await firstSession(port);
    const { socket, verdict } = await tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      session,
      maxVersion: "TLSv1.2",
      peerPolicy: { ...usp(), disableResumption: true },
    });
    cleanup.push(() => socket.destroy());
    expect(verdict.resumed).toBe(false);
  });
});

describe("createSecureServer: server re-validates the client (mutual TLS)", () => {
  async function server(policy: TlsPeerPolicy) {
    const verified: PeerVerdict[] = [];
    const rejected: Error[] = [];
    const srv = createSecureServer(
      { ...tlsOptions(pki.controller), peerPolicy: policy },
      (socket, verdict) => {
        verified.push(verdict);
        socket.on("error", () => {});
        socket.end("welcome");
      },
    );
    srv.on("peerRejected", (err: Error) => rejected.push(err));
    srv.on("tlsClientError", () => {});
    srv.listen(0, "127.0.0.1");
    await once(srv, "listening");
    cleanup.push(() => srv.close());
    return { port: (srv.address() as AddressInfo).port, verified, rejected };
  }
  const agentSide: TlsPeerPolicy = {
    kind: "usp",
    context: { initiatedBySelf: false, time: new Date(), anchors: [] },
  };
  function connectAs(port: number, leaf: IssuedCertificate | undefined, payload = "app-data") {
    return new Promise<string>((resolve) => {
      const s = tls.connect({
        host: "127.0.0.1",
        port,
        rejectUnauthorized: false,
        ...(leaf ? { key: leaf.keyPem, cert: leaf.chainPem } : {}),
      });
      let data = "";
      s.on("secureConnect", () => s.write(payload));
      s.on("data", (d) => {
        data += d;
      });
      s.on("error", () => {});
      s.on("close", () => resolve(data));
      cleanup.push(() => s.destroy());
    });
  }
  it("accepts a client chained to the trusted CA and reports its Endpoint ID", async () => {
    const srv = await server({
      ...agentSide,
      context: { ...agentSide.context, anchors: [pki.root.certPem] },
    });
    expect(await connectAs(srv.port, pki.agent)).toBe("welcome");
    expect(srv.verified[0]?.endpointIds).toContain("proto::agent");
  });
  it("a client offering a resumed session gets a full handshake and is re-validated", async () => {
    const srv = await server({
      ...agentSide,
      context: { ...agentSide.context, anchors: [pki.root.certPem] },
    });
    const first = tls.connect({
      host: "127.0.0.1",
      port: srv.port,
      rejectUnauthorized: false,
      key: pki.agent.keyPem,
      cert: pki.agent.chainPem,
    });
    cleanup.push(() => first.destroy());
    first.on("error", () => {});
    first.resume();
    const session = await new Promise<Buffer | undefined>((res) => {
      first.once("session", res);
      first.once("close", () => res(first.getSession()));
    });
    const second = tls.connect({
      host: "127.0.0.1",
      port: srv.port,
      rejectUnauthorized: false,
      key: pki.agent.keyPem,
      cert: pki.agent.chainPem,
      session,
    });
    cleanup.push(() => second.destroy());
    second.on("error", () => {});
    second.resume();
    await once(second, "secureConnect");
    expect(second.isSessionReused()).toBe(false);
    await once(second, "close");
    expect(srv.verified.length).toBe(2);
    expect(srv.verified.every((v) => !v.resumed)).toBe(true);
  });
  it("rejects a client without a certificate (R-MTP.1) before any application data", async () => {
    const srv = await server({
      ...agentSide,
      context: { ...agentSide.context, anchors: [pki.root.certPem] },
    });
    expect(await connectAs(srv.port, undefined)).toBe("");
    expect(srv.verified).toEqual([]);
    expect(srv.rejected[0]).toMatchObject({ code: "ERR_CERT_NO_PEER_CERTIFICATE" });
  });
  it("rejects an untrusted client", async () => {
    const srv = await server({
      ...agentSide,
      context: { ...agentSide.context, anchors: [pki.root.certPem] },
    });
    const untrustedAgent = await pki.untrustedRoot.issueLeaf({ uris: ["urn:bbf:usp:id:proto::x"] });
    expect(await connectAs(srv.port, untrustedAgent)).toBe("");
    expect(
      (srv.rejected[0] as CertificateRejectedError).trace.find((s) => s.step === "ca-or-broker")?.code,
    ).toBe("CHAIN_NO_ANCHOR");
  });
  it("rejects an expired client", async () => {
    const srv = await server({
      ...agentSide,
      context: { ...agentSide.context, anchors: [pki.root.certPem] },
    });
    expect(await connectAs(srv.port, pki.expired)).toBe("");
    expect((srv.rejected[0] as CertificateRejectedError).reason).toBe("CERT_EXPIRED");
  });
});
