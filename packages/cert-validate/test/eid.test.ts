import { createPki, type Pki } from "@x/test-certs";
import { beforeAll, describe, expect, it } from "vitest";
import { endpointIdsFromCert, matchEndpointId, parseEndpointId } from "../src/index.js";

let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
}, 60_000);

describe("Endpoint IDs in certificates", () => {
  it("finds the URN EID and, in 1.3+ mode, fqdn candidates", () => {
    expect(endpointIdsFromCert(pki.agent.certPem, { uspVersion: "1.2" })).toEqual(["proto::agent"]);
    expect(endpointIdsFromCert(pki.agent.certPem)).toEqual(["proto::agent", "fqdn::localhost"]);
  });
  it("several EIDs in one certificate, URN prefix case rules", async () => {
    const c = await pki.intermediate.issueLeaf({
      uris: [
        "urn:bbf:usp:id:oui:00256D:dev-1",
        "URN:BBF:usp:id:proto::two",
        "urn:bbf:USP:ID:proto::three",
        "https://x.example/",
      ],
    });
    expect(endpointIdsFromCert(c.certPem, { uspVersion: "1.2" })).toEqual(["oui:00256D:dev-1", "proto::two"]);
  });
  it("rejects malformed EIDs", () => {
    expect(parseEndpointId("proto::ok")).toBeDefined();
    expect(parseEndpointId("nosuch::x")).toBeUndefined();
    expect(parseEndpointId("proto::bad id")).toBeUndefined();
    expect(parseEndpointId(`proto::${"a".repeat(51)}`)).toBeUndefined();
  });
  it("matchEndpointId: exact, missing, mismatch", async () => {
    expect(matchEndpointId(pki.agent.certPem, "proto::agent")).toMatchObject({ ok: true });
    expect(matchEndpointId(pki.agent.certPem, "proto::other")).toMatchObject({
      ok: false,
      code: "EID_MISMATCH",
    });
    const none = await pki.intermediate.issueLeaf({ ips: ["10.0.0.1"] });
    expect(matchEndpointId(none.certPem, "proto::agent")).toMatchObject({ ok: false, code: "EID_MISSING" });
  });
  it("R-SEC.11/12 wildcards: off by default, scheme and OUI rules when on", async () => {
    const shared = await pki.intermediate.issueLeaf({
      uris: ["urn:bbf:usp:id:oui:00256D:box-*", "urn:bbf:usp:id:os::00256D-*"],
    });
    expect(matchEndpointId(shared.certPem, "oui:00256D:box-17", { uspVersion: "1.2" })).toMatchObject({
      ok: false,
      code: "EID_WILDCARD_NOT_ALLOWED",
    });
    expect(matchEndpointId(shared.certPem, "oui:00256D:box-17", { allowWildcard: true })).toMatchObject({
      ok: true,
      wildcard: true,
    });
    expect(matchEndpointId(shared.certPem, "oui:00AAAA:box-17", { allowWildcard: true }).ok).toBe(false);
    expect(matchEndpointId(shared.certPem, "os::00256D-abc", { allowWildcard: true }).ok).toBe(true);
    const badOs = await pki.intermediate.issueLeaf({
      uris: ["urn:bbf:usp:id:os::*-abc", "urn:bbf:usp:id:self::*"],
    });
    expect(matchEndpointId(badOs.certPem, "os::00256D-abc", { allowWildcard: true }).ok).toBe(false);
    expect(matchEndpointId(badOs.certPem, "self::x", { allowWildcard: true }).ok).toBe(false);
  });
});
