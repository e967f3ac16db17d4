import { describe, expect, it } from "vitest";
import { StompFrameError } from "../src/errors.js";
import type { StompFrame } from "../src/frame.js";
import { encodeFrame, escapeHeader, unescapeHeader } from "../src/frame.js";
import { decodeFrame, FrameParser } from "../src/parser.js";

const text = (b: Uint8Array): string => Buffer.from(b).toString("latin1");

describe("header escaping", () => {
  it("escapes the four STOMP 1.2 octets", () => {
    expect(escapeHeader("proto::agent-1")).toBe("proto\\c\\cagent-1");
    expect(escapeHeader("a\\b\r\nc")).toBe("a\\\\b\\r\\nc");
    expect(unescapeHeader("proto\\c\\cagent-1")).toBe("proto::agent-1");
    expect(unescapeHeader("a\\\\b\\r\\nc")).toBe("a\\b\r\nc");
  });

  it("rejects undefined escapes and a trailing backslash", () => {
    for (const bad of ["\\t", "abc\\", "\\x41", "\\C"]) {
      const error = (() => {
        try {
          unescapeHeader(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(StompFrameError);
      expect((error as StompFrameError).code).toBe("ERR_STOMP_FRAME_BAD_ESCAPE");
    }
  });
});

describe("encodeFrame", () => {
  it("escapes the STOMP frame's endpoint-id but not CONNECT's", () => {
    const stomp = encodeFrame("STOMP", [
      ["accept-version", "1.2"],
      ["endpoint-id", "proto::agent-1"],
    ]);
    expect(text(stomp)).toBe("STOMP\naccept-version:1.2\nendpoint-id:proto\\c\\cagent-1\n\n\0");
    const connect = encodeFrame("CONNECT", [["endpoint-id", "proto::agent-1"]]);
    expect(text(connect)).toBe("CONNECT\nendpoint-id:proto::agent-1\n\n\0");
  });

  it("adds content-length and carries binary bodies with NULs", () => {
    const body = Uint8Array.from([0, 1, 0, 255, 10, 0]);
    const bytes = encodeFrame("SEND", { destination: "/queue/a" }, body);
    expect(text(bytes).startsWith("SEND\ndestination:/queue/a\ncontent-length:6\n\n")).toBe(true);
    const decoded = decodeFrame(bytes);
    expect(decoded.command).toBe("SEND");
    expect([...decoded.body]).toEqual([...body]);
  });

  it("refuses a content-length that does not match the body and newlines in CONNECT headers", () => {
    expect(() => encodeFrame("SEND", [["content-length", "3"]], Uint8Array.of(1))).toThrow(StompFrameError);
    expect(() => encodeFrame("CONNECT", [["login", "a\nb"]])).toThrow(StompFrameError);
    expect(() => encodeFrame("send")).toThrow(StompFrameError);
  });
});

describe("FrameParser", () => {
  const collect = (chunks: Uint8Array[]): { frames: StompFrame[]; beats: number } => {
    const frames: StompFrame[] = [];
    let beats = 0;
    const parser = new FrameParser(
      (f) => frames.push(f),
      () => beats++,
    );
    for (const c of chunks) parser.push(c);
    parser.end();
    return { frames, beats };
  };

  it("skips the EOLs brokers put between frames and counts them as heart-beats", () => {
    const a = encodeFrame("MESSAGE", { destination: "/q" }, Buffer.from("x"));
    const stream = Buffer.concat([Buffer.from("\n\r\n"), a, Buffer.from("\n"), a, Buffer.from("\r\n\n")]);
    const { frames, beats } = collect([stream]);
    expect(frames).toHaveLength(2);
    expect(beats).toBe(5);
  });

  it("decodes frames split at every byte boundary", () => {
    const body = Buffer.from([1, 0, 2, 0, 3]);
    const stream = Buffer.concat([
      encodeFrame("MESSAGE", [["reply-to-dest", "/queue/a:b"]], body),
      Buffer.from("RECEIPT\r\nreceipt-id:7\r\n\r\n\0"),
    ]);
    const { frames } = collect([...stream].map((b) => Uint8Array.of(b)));
    expect(frames.map((f) => f.command)).toEqual(["MESSAGE", "RECEIPT"]);
    expect(frames[0]!.headers.get("reply-to-dest")).toBe("/queue/a:b");
    expect(Buffer.from(frames[0]!.body).equals(body)).toBe(true);
    expect(frames[1]!.headers.get("receipt-id")).toBe("7");
  });

  it("keeps the first of repeated headers and does not unescape CONNECTED", () => {
    const f = decodeFrame(Buffer.from("CONNECTED\nversion:1.2\nversion:1.1\nsession:a\\cb\n\n\0"));
    expect(f.headers.get("version")).toBe("1.2");
    expect(f.headers.get("session")).toBe("a\\cb");
    const m = decodeFrame(Buffer.from("MESSAGE\nmessage-id:ID\\c1\nx:1\nx:2\n\n\0"));
    expect(m.headers.get("message-id")).toBe("ID:1");
    expect(m.headers.get("x")).toBe("1");
  });

  it("reads a body without content-length up to the NUL", () => {
    const f = decodeFrame(Buffer.from("ERROR\nmessage:bad\n\nsomething went wrong\0"));
    expect(Buffer.from(f.body).toString()).toBe("something went wrong");
  });

  it("gives typed errors for malformed input", () => {
    const cases: Array<[string | Buffer, string]> = [
      ["MESSAGE\ncontent-length:3\n\nabcX", "ERR_STOMP_FRAME_MISSING_NUL"],
      ["MESSAGE\nbad\\x:1\n\n\0", "ERR_STOMP_FRAME_BAD_ESCAPE"],
      ["MESSAGE\nnocolon\n\n\0", "ERR_STOMP_FRAME_MALFORMED"],
      ["message\n\n\0", "ERR_STOMP_FRAME_MALFORMED"],
      ["MESSAGE\ncontent-length:-1\n\n\0", "ERR_STOMP_FRAME_MALFORMED"],
      ["\rX", "ERR_STOMP_FRAME_MALFORMED"],
      ["MESSAGE\ncontent-length:99999999\n\n", "ERR_STOMP_FRAME_TOO_LARGE"],
      ["MESSAGE\ncontent-length:5\n\nab", "ERR_STOMP_FRAME_TRUNCATED"],
      ["MESSAGE\nx:1\n", "ERR_STOMP_FRAME_TRUNCATED"],
      ["MESSAGE\n\nno nul", "ERR_STOMP_FRAME_TRUNCATED"],
    ];
    for (const [input, code] of cases) {
      let caught: unknown;
      try {
        decodeFrame(typeof input === "string" ? Buffer.from(input, "latin1") : input, { maxBodyBytes: 1024 });
      } catch (e) {
        caught = e;
      }
      expect(caught, JSON.stringify(input)).toBeInstanceOf(StompFrameError);
      expect((caught as StompFrameError).code, JSON.stringify(input)).toBe(code);
    }
  });

  it("enforces the head, header-count and open-body limits before buffering", () => {
    const parser = new FrameParser(() => {}, undefined, {
      maxHeadBytes: 100,
      maxHeaders: 2,
      maxBodyBytes: 10,
    });
    expect(() => parser.push(Buffer.from(`SEND\n${"a".repeat(200)}`))).toThrow(/exceeds 100/);
    // A failed parser stays failed.
    expect(() => parser.push(Buffer.from("\n"))).toThrow(StompFrameError);
    const p2 = new FrameParser(() => {}, undefined, { maxHeaders: 2 });
    expect(() => p2.push(Buffer.from("SEND\na:1\nb:2\nc:3\n\n\0"))).toThrow(/more than 2 headers/);
    const p3 = new FrameParser(() => {}, undefined, { maxBodyBytes: 10 });
    expect(() => p3.push(Buffer.from(`SEND\n\n${"z".repeat(11)}`))).toThrow(/exceeds 10/);
    expect(p3.bufferedBytes).toBe(0);
  });

  it("round-trips a 4 MiB binary body delivered in 64 KiB chunks", () => {
    const body = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const bytes = encodeFrame("MESSAGE", { destination: "/q" }, body);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536));
    const { frames } = collect(chunks);
    expect(frames).toHaveLength(1);
    expect(Buffer.from(frames[0]!.body).equals(body)).toBe(true);
  });
});
