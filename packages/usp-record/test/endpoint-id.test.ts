import { describe, expect, it } from "vitest";
import { EndpointIdError, formatEndpointId, isValidEndpointId, parseEndpointId } from "../src/index.js";

describe("Endpoint IDs", () => {
  it.each([
    ["oui:00256D:my-unique-bbf-id-42", "oui", "00256D", "my-unique-bbf-id-42"],
    ["oui:00256DA:x", "oui", "00256DA", "x"],
    ["oui:00256DABC:x", "oui", "00256DABC", "x"],
    ["cid:3AA3F8:my-unique-usp-id-42", "cid", "3AA3F8", "my-unique-usp-id-42"],
    ["pen:3561:my-unique-bbf-id-42", "pen", "3561", "my-unique-bbf-id-42"],
    ["self::my-Agent", "self", "", "my-Agent"],
    ["self:abc:my-Agent", "self", "abc", "my-Agent"],
    ["user::u1", "user", "", "u1"],
    ["os::00256D-0123456789", "os", "", "00256D-0123456789"],
    ["ops::00256D-STB-0123456789", "ops", "", "00256D-STB-0123456789"],
    ["uuid::f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "uuid", "", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"],
    ["imei::990000862471854", "imei", "", "990000862471854"],
    ["proto::controller", "proto", "", "controller"],
    ["doc::example", "doc", "", "example"],
    ["fqdn::agent.example.com", "fqdn", "", "agent.example.com"],
    ["os::012345-OBUSPA-0001", "os", "", "012345-OBUSPA-0001"],
    ["self::ts%3Acontroller", "self", "", "ts%3Acontroller"],
    ["urn:bbf:usp:id:proto::agent", "proto", "", "agent"],
  ])("parses %s", (id, authorityScheme, authorityId, instanceId) => {
    expect(parseEndpointId(id)).toEqual({ authorityScheme, authorityId, instanceId });
    expect(isValidEndpointId(id)).toBe(true);
  });

  it.each([
    ["", "missing authority-scheme"],
    ["controller", "missing authority-scheme"],
    ["proto:controller", "missing ':'"],
    ["http::x", "unknown authority-scheme"],
    ["OUI:00256D:x", "unknown authority-scheme"],
    ["oui:00256:x", "oui"],
    ["oui:00256G:x", "oui"],
    ["cid:3AA3F8A:x", "cid"],
    ["pen:abc:x", "pen"],
    ["self:abcdefg:x", "self"],
    ["proto:a.b:x", "proto"],
    ["os:abc:x", "os"],
    ["uuid:x:y", "uuid"],
    ["self::", "empty instance-id"],
    ["self::a b", "instance-id"],
    ["self::a:b", "instance-id"],
    ["self::a%2", "instance-id"],
    ["self::a%zz", "instance-id"],
    ["self::ä", "instance-id"],
    [`self::${"a".repeat(51)}`, "50"],
  ])("rejects %j", (id, reason) => {
    expect(isValidEndpointId(id)).toBe(false);
    try {
      parseEndpointId(id);
      throw new Error("accepted");
    } catch (error) {
      expect(error).toBeInstanceOf(EndpointIdError);
      expect((error as EndpointIdError).code).toBe("ERR_USP_ENDPOINT_ID_INVALID");
      expect((error as EndpointIdError).endpointId).toBe(id);
      expect((error as Error).message).toContain(reason);
    }
  });

  it("accepts exactly 50 instance-id characters (R-ARC.6)", () => {
    expect(isValidEndpointId(`self::${"a".repeat(50)}`)).toBe(true);
  });

  it("never throws from isValidEndpointId on non-strings", () => {
    expect(isValidEndpointId(undefined as unknown as string)).toBe(false);
    expect(isValidEndpointId(42 as unknown as string)).toBe(false);
  });

  it("formats and validates", () => {
    expect(formatEndpointId({ authorityScheme: "oui", authorityId: "00256D", instanceId: "x" })).toBe(
      "oui:00256D:x",
    );
    expect(() => formatEndpointId({ authorityScheme: "os", authorityId: "1", instanceId: "x" })).toThrow(
      EndpointIdError,
    );
  });
});
