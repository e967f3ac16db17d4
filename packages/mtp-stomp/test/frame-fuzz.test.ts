import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StompFrameError } from "../src/errors.js";
import { encodeFrame, type StompFrame } from "../src/frame.js";
import { FrameParser } from "../src/parser.js";

const LIMITS = { maxHeadBytes: 4096, maxHeaders: 32, maxBodyBytes: 64 * 1024 };
const commands = fc.constantFrom("SEND", "MESSAGE", "RECEIPT", "ERROR", "SUBSCRIBE", "STOMP");
const headerName = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s !== "content-length");
const headers = fc.uniqueArray(fc.tuple(headerName, fc.string({ maxLength: 40 })), {
  maxLength: 10,
  selector: ([name]) => name,
});
const body = fc.uint8Array({ maxLength: 2048 });

/** Feeds `bytes` split at `cuts`; returns frames, or the error thrown (which must be typed). */
function run(bytes: Uint8Array, cuts: number[] = []): { frames: StompFrame[]; error?: StompFrameError } {
  const frames: StompFrame[] = [];
  const parser = new FrameParser((f) => frames.push(f), undefined, LIMITS);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let last = 0;
  try {
    for (const p of [...points, bytes.length]) {
      parser.push(bytes.subarray(last, p));
      // Bounded memory: never more than one head + one body held.
      expect(parser.bufferedBytes).toBeLessThanOrEqual(
        LIMITS.maxHeadBytes + LIMITS.maxBodyBytes + bytes.length,
      );
      expect(parser.bufferedBytes).toBeLessThanOrEqual(LIMITS.maxHeadBytes + LIMITS.maxBodyBytes + 65536);
      last = p;
    }
    parser.end();
    return { frames };
  } catch (error) {
    if (!(error instanceof StompFrameError)) throw error;
    return { frames, error };
  }
}

describe("frame codec fuzz (fast-check)", () => {
  it("round-trips arbitrary frames split at arbitrary points", () => {
    fc.assert(
      fc.property(commands, headers, body, fc.array(fc.nat(), { maxLength: 8 }), (command, hs, b, cuts) => {
        const bytes = encodeFrame(command, hs, b);
        const { frames, error } = run(bytes, cuts);
        expect(error).toBeUndefined();
        expect(frames).toHaveLength(1);
        const f = frames[0]!;
        expect(f.command).toBe(command);
        for (const [k, v] of hs) expect(f.headers.get(k)).toBe(v);
        expect(Buffer.from(f.body).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("never throws anything but a StompFrameError on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        run(bytes, cuts);
      }),
      { numRuns: 400 },
    );
  });

  it("never throws anything but a StompFrameError on frame-like text", () => {
    const line = fc.oneof(
      fc.constantFrom(
        "MESSAGE",
        "SEND",
        "content-length:5",
        "content-length:x",
        "a:b\\c",
        "a:\\q",
        "",
        "\r",
        "\0",
      ),
      fc.string({ maxLength: 30 }),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
        run(Buffer.from(lines.join("\n"), "utf8"));
      }),
      { numRuns: 400 },
    );
  });

  it("reports truncation of any valid frame as ERR_STOMP_FRAME_TRUNCATED", () => {
    fc.assert(
      fc.property(commands, headers, body, fc.nat(), (command, hs, b, cut) => {
        const bytes = encodeFrame(command, hs, b);
        const at = 1 + (cut % (bytes.length - 1));
        const { frames, error } = run(bytes.subarray(0, at));
        expect(frames).toHaveLength(0);
        expect(error?.code).toBe("ERR_STOMP_FRAME_TRUNCATED");
      }),
      { numRuns: 300 },
    );
  });

  it("reports a wrong byte where the NUL belongs as ERR_STOMP_FRAME_MISSING_NUL", () => {
    fc.assert(
      fc.property(body, fc.integer({ min: 1, max: 255 }), (b, wrong) => {
        const bytes = Buffer.from(encodeFrame("MESSAGE", [["destination", "/q"]], b));
        const { error } = run(Buffer.concat([bytes.subarray(0, bytes.length - 1), Uint8Array.of(wrong)]));
        if (b.length === 0) {
          // No content-length: the body simply continues, so the stream is truncated.
          expect(error?.code).toBe("ERR_STOMP_FRAME_TRUNCATED");
        } else {
          expect(error?.code).toBe("ERR_STOMP_FRAME_MISSING_NUL");
        }
      }),
      { numRuns: 200 },
    );
  });

  it("reports undefined escape sequences as ERR_STOMP_FRAME_BAD_ESCAPE", () => {
    const bad = fc.string({ minLength: 1, maxLength: 1 }).filter((c) => !"\\rnc\n\r:".includes(c));
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), bad, (prefix, c) => {
        const safe = prefix.replace(/[\\\r\n:]/g, "");
        const { error } = run(Buffer.from(`MESSAGE\nh:${safe}\\${c}\n\n\0`, "utf8"));
        expect(error?.code).toBe("ERR_STOMP_FRAME_BAD_ESCAPE");
      }),
      { numRuns: 200 },
    );
  });

  it("rejects oversized heads and bodies before buffering them", () => {
    fc.assert(
      fc.property(fc.integer({ min: LIMITS.maxBodyBytes + 1, max: 2 ** 31 }), (length) => {
        const { error } = run(Buffer.from(`MESSAGE\ncontent-length:${length}\n\n`));
        expect(error?.code).toBe("ERR_STOMP_FRAME_TOO_LARGE");
      }),
      { numRuns: 100 },
    );
    const head = Buffer.from(`MESSAGE\n${"h:v\n".repeat(2000)}`);
    expect(run(head).error?.code).toBe("ERR_STOMP_FRAME_TOO_LARGE");
  });
});
