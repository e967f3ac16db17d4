/** The shared MTP compliance suite, for every role pairing, over ws:// and wss:// (mTLS). */
import { mtpComplianceSuite } from "@x/mtp-compliance";
import { createPki, tlsOptions } from "@x/test-certs";
import { type PairTls, websocketPair } from "./helpers.js";

const pki = await createPki();
const ids = { agent: "proto::agent", controller: "proto::controller" };

/** mTLS: the server presents `server`, requires a client certificate, and both trust the root. */
function mutualTls(server: typeof pki.agent, client: typeof pki.agent): PairTls {
  return {
    server: { ...tlsOptions(server, pki.root), clientCertificate: "require" },
    client: tlsOptions(client, pki.root),
  };
}

const options = { malformedClosesConnection: true } as const;

mtpComplianceSuite(
  "ws:// Agent client -> Controller server",
  (ctx) => websocketPair("controller", ctx),
  options,
);
mtpComplianceSuite("ws:// Controller client -> Agent server", (ctx) => websocketPair("agent", ctx), options);
mtpComplianceSuite(
  "wss:// (mTLS) Agent client -> Controller server",
  (ctx) => websocketPair("controller", ctx, mutualTls(pki.controller, pki.agent), ids),
  options,
);
mtpComplianceSuite(
  "wss:// (mTLS) Controller client -> Agent server",
  (ctx) => websocketPair("agent", ctx, mutualTls(pki.agent, pki.controller), ids),
  options,
);
