import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SequenceWindow } from "../src/session/window.js";

describe("SequenceWindow", () => {
  it("behaves like a Map for contiguous appends and low-end deletes", () => {
    const w = new SequenceWindow<number>();
    for (let i = 0; i < 3000; i++) w.set(10n + BigInt(i), i);
    expect(w.size).toBe(3000);
    expect(w.get(9n)).toBeUndefined();
    expect(w.get(10n)).toBe(0);
    expect(w.get(3009n)).toBe(2999);
    expect(w.has(3010n)).toBe(false);
    for (let i = 0; i < 2500; i++) expect(w.delete(10n + BigInt(i))).toBe(true);
    expect(w.size).toBe(500);
    expect(w.get(2509n)).toBeUndefined();
    expect(w.get(2510n)).toBe(2500);
    w.set(3010n, 3000);
    expect(w.get(3010n)).toBe(3000);
    w.clear();
    expect(w.size).toBe(0);
    w.set(18446744073709551605n, 1);
    expect(w.get(18446744073709551605n)).toBe(1);
  });

  it("matches a Map for any sequence of operations", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: fc.bigInt(0n, 40n), value: fc.integer() }),
      fc.record({ kind: fc.constant("append" as const), value: fc.integer() }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.bigInt(0n, 40n) }),
      fc.record({ kind: fc.constant("deleteLowest" as const) }),
      fc.record({ kind: fc.constant("clear" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const w = new SequenceWindow<number>();
        const m = new Map<bigint, number>();
        let next = 5n;
        for (const o of ops) {
          if (o.kind === "set") {
            w.set(o.key, o.value);
            m.set(o.key, o.value);
          } else if (o.kind === "append") {
            w.set(next, o.value);
            m.set(next, o.value);
            next++;
          } else if (o.kind === "delete") {
            expect(w.delete(o.key)).toBe(m.delete(o.key));
          } else if (o.kind === "deleteLowest") {
            const lowest = [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[0];
            if (lowest !== undefined) expect(w.delete(lowest)).toBe(m.delete(lowest));
          } else {
            w.clear();
            m.clear();
          }
          expect(w.size).toBe(m.size);
          for (let k = 0n; k <= 45n; k++) {
            expect(w.get(k)).toBe(m.get(k));
            expect(w.has(k)).toBe(m.has(k));
          }
        }
      }),
    );
  });
});
