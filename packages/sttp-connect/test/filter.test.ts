import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluate, likeMatch, resetEvaluationBudget, type Value } from "../src/filter/evaluate.js";
import { tokenize } from "../src/filter/lexer.js";
import { parseExpression } from "../src/filter/parser.js";
import type { FilterExpr } from "../src/index.js";
import {
  filterMetadata,
  MAX_FILTER_DEPTH,
  MAX_FILTER_EXPRESSION_LENGTH,
  type MeasurementDefinition,
  parseFilterExpression,
  resolveFilterExpression,
  SttpFilterError,
} from "../src/index.js";
import { definitions } from "./helpers.js";

/** PPA:1..8: odd ids FREQ, even VPHM; devices SHELBY (1-4) and OTHER (5-8); PPA:8 has a description. */
const defs: MeasurementDefinition[] = definitions(8).map((d, i) => ({
  ...d,
  signalType: i % 2 === 0 ? "FREQ" : "VPHM",
  deviceAcronym: i < 4 ? "SHELBY" : "OTHER",
  ...(i === 7 ? { description: "Bus 8 voltage" } : {}),
}));

const keys = (expression: string) =>
  resolveFilterExpression(expression, defs).matched.map((d) => `${d.source}:${d.id}`);

/** Evaluates a standalone expression against an empty row (plus optional columns). */
function ev(text: string, columns: Record<string, Value> = {}): unknown {
  const row = new Map(Object.entries(columns).map(([k, v]) => [k.toUpperCase(), v]));
  resetEvaluationBudget();
  const v = evaluate(parseExpression(text), row);
  return v.type === "null" ? null : v.value;
}

describe("lexer", () => {
  it("tokenizes literals, quoted identifiers, GUIDs and operators", () => {
    const tokens = tokenize(
      "[Point Tag] `x` 'it''s' 0x1F 1.5e3 .5 #2026-01-01# {6F9619FF-8B86-D011-B42D-00C04FC964FF} !== <> -- c\n/* d */ ;",
    );
    expect(tokens.map((t) => [t.kind, t.text])).toEqual([
      ["ident", "Point Tag"],
      ["ident", "x"],
      ["str", "it's"],
      ["int", "0x1F"],
      ["num", "1.5e3"],
      ["num", ".5"],
      ["date", "2026-01-01"],
      ["guid", "6f9619ff-8b86-d011-b42d-00c04fc964ff"],
      ["op", "!=="],
      ["op", "<>"],
      ["op", ";"],
      ["eof", ""],
    ]);
  });

  it("lexes a quoted GUID as a GUID and a bare GUID before numbers", () => {
    expect(
      tokenize("'6f9619ff8b86d011b42d00c04fc964ff' 12345678-1234-1234-1234-123456789abc")
        .slice(0, 2)
        .map((t) => t.kind),
    ).toEqual(["guid", "guid"]);
  });

  it("reports unexpected characters and unterminated literals with their offset", () => {
    expect(() => tokenize("a $ b")).toThrow(SttpFilterError);
    try {
      tokenize("abc 'open");
    } catch (error) {
      expect(error).toBeInstanceOf(SttpFilterError);
      expect((error as SttpFilterError).position).toBe(4);
      expect((error as SttpFilterError).code).toBe("ERR_STTP_FILTER");
    }
  });
});

describe("parser", () => {
  it("splits statements on ';' outside quotes", () => {
    const statements = parseFilterExpression(
      "PPA:1; ; FILTER ActiveMeasurements WHERE PointTag = 'a;b' ;{6F9619FF-8B86-D011-B42D-00C04FC964FF}",
    );
    expect(statements.map((s) => s.kind)).toEqual(["identifier", "filter", "identifier"]);
  });

  it("does not let apostrophes, brackets or dashes inside point tags swallow later statements", () => {
    const tagged = [
      ...defs,
      { signalId: "6f9619ff-8b86-d011-b42d-00c04fc964ff", source: "X", id: 1, pointTag: "O'HARE--BUS[1]" },
    ];
    expect(
      resolveFilterExpression("O'HARE--BUS[1];PPA:2;BAD'TAG;PPA:3", tagged).matched.map(
        (d) => `${d.source}:${d.id}`,
      ),
    ).toEqual(["X:1", "PPA:2", "PPA:3"]);
    expect(keys("FILTER ActiveMeasurements WHERE PointTag LIKE'%;%'; PPA:4")).toEqual(["PPA:4"]);
  });

  it("parses TOP, the table, WHERE and ORDER BY terms", () => {
    const [s] = parseFilterExpression(
      "filter top 10 ActiveMeasurements where SignalAcronym <> 'STAT' order by PointTag desc, BINARY ID, Device ASC",
    );
    expect(s).toMatchObject({
      kind: "filter",
      top: 10,
      table: "ActiveMeasurements",
      orderBy: [
        { column: "PointTag", descending: true, exact: false },
        { column: "ID", descending: false, exact: true },
        { column: "Device", descending: false, exact: false },
      ],
    });
    expect(parseFilterExpression("FILTER TOP -1 ActiveMeasurements WHERE true")[0]).toMatchObject({
      top: -1,
    });
  });

  it("follows the grammar's precedence", () => {
    expect(ev("1 + 2 * 3")).toBe(7);
    expect(ev("(1 + 2) * 3")).toBe(9);
    expect(ev("1 << 2 + 1")).toBe(8); // + binds tighter than <<
    expect(ev("1 + 1 < 3 = true")).toBe(true); // < before =
    expect(ev("NOT 1 = 2 AND 2 = 2")).toBe(true); // NOT applies to the comparison
    expect(ev("true OR false AND false")).toBe(true); // AND before OR
    expect(ev("-2 * 3")).toBe(-6);
    expect(ev("6 & 3 | 8")).toBe(10);
    expect(ev("5 ^ 1")).toBe(4);
    expect(ev("5 XOR 1")).toBe(4);
    expect(ev("7 % 4")).toBe(3);
    expect(ev("~0")).toBe(-1);
    expect(ev("!(1 = 1)")).toBe(false);
    expect(ev("1 = 1 && 2 = 2 || false")).toBe(true);
  });

  it("rejects malformed statements with a typed error and position", () => {
    for (const bad of [
      "FILTER ActiveMeasurements",
      "FILTER ActiveMeasurements WHERE",
      "FILTER ActiveMeasurements WHERE a = = 1",
      "FILTER TOP x ActiveMeasurements WHERE true",
      "FILTER ActiveMeasurements WHERE true ORDER PointTag",
      "FILTER ActiveMeasurements WHERE Abs(1",
      "FILTER ActiveMeasurements WHERE a IN ()",
      "FILTER ActiveMeasurements WHERE (a = 1",
      "a = 'x' junk",
    ]) {
      expect(() => parseFilterExpression(bad), bad).toThrow(SttpFilterError);
    }
    try {
      parseFilterExpression("PPA:1; FILTER ActiveMeasurements WHERE a = = 1");
    } catch (error) {
      expect((error as SttpFilterError).position).toBe(43);
    }
  });

  it("bounds nesting depth, operator chains, expression length and TOP", () => {
    expect(() => parseFilterExpression(`FILTER ActiveMeasurements WHERE ${"(".repeat(100_000)}`)).toThrow(
      SttpFilterError,
    );
    expect(() => parseFilterExpression(`FILTER ActiveMeasurements WHERE ${"~".repeat(60_000)}1`)).toThrow(
      /deeper than/,
    );
    expect(() => parseFilterExpression(`FILTER ActiveMeasurements WHERE ${"1+".repeat(1000)}1 = 1`)).toThrow(
      /deeper than/,
    );
    expect(() => parseFilterExpression("x".repeat(MAX_FILTER_EXPRESSION_LENGTH + 1))).toThrow(/exceeds/);
    expect(() => parseFilterExpression("FILTER TOP 99999999999 ActiveMeasurements WHERE true")).toThrow(
      /TOP/,
    );
    // Nesting just under the limit parses; long OR chains are flat and do not count as depth.
    expect(() =>
      parseFilterExpression(
        `FILTER ActiveMeasurements WHERE ${"(".repeat(MAX_FILTER_DEPTH - 2)}1${")".repeat(MAX_FILTER_DEPTH - 2)} = 1`,
      ),
    ).not.toThrow();
    expect(keys(`FILTER ActiveMeasurements WHERE ${"ID = 'PPA:1' OR ".repeat(3000)}false`)).toEqual([
      "PPA:1",
    ]);
  });
});

describe("evaluator", () => {
  it("compares strings case-insensitively except with === and !==", () => {
    expect(ev("'abc' = 'ABC'")).toBe(true);
    expect(ev("'abc' == 'ABC'")).toBe(true);
    expect(ev("'abc' === 'ABC'")).toBe(false);
    expect(ev("'abc' !== 'ABC'")).toBe(true);
    expect(ev("'abc' <> 'abd'")).toBe(true);
    expect(ev("'abc' != 'abc'")).toBe(false);
    expect(ev("'b' > 'A'")).toBe(true);
  });

  it("coerces the other operand to numbers, booleans, GUIDs and dates", () => {
    expect(ev("'10' = 10")).toBe(true);
    expect(ev("'10' > 9")).toBe(true);
    expect(ev("2.5 >= 2")).toBe(true);
    expect(ev("'true' = true")).toBe(true);
    expect(ev("{6F9619FF-8B86-D011-B42D-00C04FC964FF} = '6f9619ff8b86d011b42d00c04fc964ff'")).toBe(true);
    expect(ev("#2026-01-02# > #2026-01-01#")).toBe(true);
    expect(ev("#2026-01-02# > '2025-12-31'")).toBe(true);
    expect(ev("7 / 2")).toBe(3); // integer division
    expect(ev("7.0 / 2")).toBe(3.5);
    expect(ev("'a' + 1")).toBe("a1");
    expect(() => ev("1 / 0")).toThrow(SttpFilterError);
    expect(() => ev("-'abc'")).toThrow(SttpFilterError);
  });

  it("uses three-valued logic for NULL", () => {
    expect(ev("NULL = NULL")).toBe(null);
    expect(ev("NULL <> 1")).toBe(null);
    expect(ev("NULL + 1")).toBe(null);
    expect(ev("NULL AND false")).toBe(false);
    expect(ev("NULL AND true")).toBe(null);
    expect(ev("NULL OR true")).toBe(true);
    expect(ev("NULL OR false")).toBe(null);
    expect(ev("NOT NULL")).toBe(null);
    expect(ev("NULL IS NULL")).toBe(true);
    expect(ev("1 IS NOT NULL")).toBe(true);
    expect(ev("x IS NULL", { x: { type: "null" } })).toBe(true);
    expect(ev("NULL LIKE '%'")).toBe(null);
    expect(ev("NULL IN (1, 2)")).toBe(null);
    expect(ev("3 IN (1, NULL)")).toBe(null);
    expect(ev("1 IN (1, NULL)")).toBe(true);
  });

  it("LIKE with % and * wildcards anywhere, case-insensitive unless BINARY", () => {
    expect(ev("'SHELBY-BUS1' LIKE 'shelby%'")).toBe(true);
    expect(ev("'SHELBY-BUS1' LIKE '*bus1'")).toBe(true);
    expect(ev("'SHELBY-BUS1' LIKE '%-B%'")).toBe(true);
    expect(ev("'SHELBY-BUS1' LIKE 'S%Y%1'")).toBe(true);
    expect(ev("'SHELBY-BUS1' LIKE 'SHELBY'")).toBe(false);
    expect(ev("'SHELBY-BUS1' NOT LIKE 'X%'")).toBe(true);
    expect(ev("'SHELBY' LIKE BINARY 'shelby'")).toBe(false);
    expect(ev("'SHELBY' LIKE === 'SHEL%'")).toBe(true);
    expect(ev("'' LIKE '%'")).toBe(true);
    expect(likeMatch("a".repeat(5000), `${"%a".repeat(50)}b`, false)).toBe(false);
  });

  it("IN and NOT IN lists", () => {
    expect(ev("'ppa:1' IN ('PPA:1', 'PPA:2')")).toBe(true);
    expect(ev("'ppa:1' IN BINARY ('PPA:1')")).toBe(false);
    expect(ev("3 NOT IN (1, 2)")).toBe(true);
    expect(ev("2 ! IN (1, 2)")).toBe(false);
  });

  it("functions", () => {
    expect(ev("Abs(-3)")).toBe(3);
    expect(ev("Ceiling(1.2)")).toBe(2);
    expect(ev("Floor(1.8)")).toBe(1);
    expect(ev("Round(2.5)")).toBe(2);
    expect(ev("Round(1.2345, 2)")).toBe(1.23);
    expect(ev("Sqrt(16)")).toBe(4);
    expect(ev("Power(2, 10)")).toBe(1024);
    expect(ev("Coalesce(NULL, NULL, 'x')")).toBe("x");
    expect(ev("IsNull(NULL, 5)")).toBe(5);
    expect(ev("IIf(1 = 1, 'yes', 1 / 0)")).toBe("yes");
    expect(ev("Contains('Shelby Bus', 'bus')")).toBe(false);
    expect(ev("Contains('Shelby Bus', 'bus', true)")).toBe(true);
    expect(ev("StartsWith('Shelby', 'She')")).toBe(true);
    expect(ev("EndsWith('Shelby', 'lby')")).toBe(true);
    expect(ev("IndexOf('abcabc', 'c')")).toBe(2);
    expect(ev("LastIndexOf('abcabc', 'c')")).toBe(5);
    expect(ev("NthIndexOf('abcabc', 'c', 2)")).toBe(5);
    expect(ev("Len('abc')")).toBe(3);
    expect(ev("Lower('AbC')")).toBe("abc");
    expect(ev("Upper('AbC')")).toBe("ABC");
    expect(ev("Trim('  a  ')")).toBe("a");
    expect(ev("TrimLeft('  a ')")).toBe("a ");
    expect(ev("TrimRight(' a  ')")).toBe(" a");
    expect(ev("SubStr('abcdef', 2)")).toBe("cdef");
    expect(ev("SubStr('abcdef', 2, 3)")).toBe("cde");
    expect(ev("Replace('a-b-c', '-', '+')")).toBe("a+b+c");
    expect(ev("Replace('aXbxc', 'x', '.', true)")).toBe("a.b.c");
    expect(ev("Reverse('abc')")).toBe("cba");
    expect(ev("Split('a,b,c', ',', 1)")).toBe("b");
    expect(ev("StrCount('abcabc', 'bc')")).toBe(2);
    expect(ev("StrCmp('a', 'b')")).toBe(-1);
    expect(ev("MaxOf(1, 5, 3)")).toBe(5);
    expect(ev("MinOf(4, 2, NULL)")).toBe(2);
    expect(ev("Convert('12', 'System.Int32') + 1")).toBe(13);
    expect(ev("Convert(12, 'String') + 1")).toBe("121");
    expect(ev("IsRegExMatch('^PPA:[0-9]+$', 'PPA:12')")).toBe(true);
    expect(ev("RegExVal('[0-9]+', 'PPA:12')")).toBe("12");
    expect(ev("IsNumeric('1.5')")).toBe(true);
    expect(ev("IsInteger('x')")).toBe(false);
    expect(ev("IsGuid('6f9619ff-8b86-d011-b42d-00c04fc964ff')")).toBe(true);
    expect(ev("IsDate('2026-01-01')")).toBe(true);
    expect(ev("Len(NULL)")).toBe(null);
    expect(ev("Upper(NULL)")).toBe(null);
    expect(() => ev("Len('a', 'b')")).toThrow(SttpFilterError);
    expect(() => ev("DateAdd('2026-01-01', 1, 'Day')")).toThrow(/not supported/);
  });

  it("fails cleanly on non-finite integers, runaway strings and runaway work", () => {
    expect(() => ev("1e400 << 1")).toThrow(SttpFilterError);
    expect(() => ev("~(0.0 / 0)")).toThrow(SttpFilterError);
    const big = "x".repeat(1000);
    expect(() => ev(`Replace(Replace(Replace('xx', 'x', '${big}'), 'x', '${big}'), 'x', '${big}')`)).toThrow(
      /longer than/,
    );
    const list = Array.from({ length: 4000 }, (_, i) => `'v${i}'`).join(",");
    const many = Array.from({ length: 20_000 }, () => defs[0] as MeasurementDefinition).map((d, i) => ({
      ...d,
      id: i,
    }));
    expect(() =>
      resolveFilterExpression(
        `FILTER ActiveMeasurements WHERE ID IN (${list}) OR PointTag IN (${list})`,
        many,
      ),
    ).toThrow(/evaluation steps/);
  });

  it("refuses regular expressions that could backtrack catastrophically", () => {
    for (const pattern of ["(a+)+$", "(a|aa)*b", "(?:x*)*", "(a)\\1", "a*b*c*", "x".repeat(300)]) {
      expect(() => ev(`IsRegExMatch('${pattern}', 'aaaa')`), pattern).toThrow(SttpFilterError);
    }
    expect(() => ev("IsRegExMatch('(', 'a')")).toThrow(/Invalid regular expression/);
    expect(ev("IsRegExMatch('(?:ab)+c', 'ababc')")).toBe(true);
    expect(ev("IsRegExMatch('[(+*]+x', '(+x')")).toBe(true);
  });
});

describe("resolveFilterExpression", () => {
  it("keeps identifier statements working", () => {
    expect(keys("PPA:2;ppa:1;TAG:PPA3;PPA:2")).toEqual(["PPA:2", "PPA:1", "PPA:3"]);
    expect(keys(`{${defs[4]?.signalId.toUpperCase()}}; '${defs[5]?.signalId}'; "TAG:PPA7"`)).toEqual([
      "PPA:5",
      "PPA:6",
      "PPA:7",
    ]);
    expect(resolveFilterExpression("PPA:1;NOPE;PPA:99", defs).unmatched).toEqual(["NOPE", "PPA:99"]);
  });

  it("selects with FILTER … WHERE", () => {
    expect(keys("FILTER ActiveMeasurements WHERE SignalType = 'FREQ'")).toEqual([
      "PPA:1",
      "PPA:3",
      "PPA:5",
      "PPA:7",
    ]);
    expect(keys("FILTER activemeasurements WHERE signalacronym <> 'FREQ' AND device = 'OTHER'")).toEqual([
      "PPA:6",
      "PPA:8",
    ]);
    expect(keys("FILTER ActiveMeasurements WHERE Description LIKE '%voltage'")).toEqual(["PPA:8"]);
    expect(keys(`FILTER ActiveMeasurements WHERE SignalID = ${defs[2]?.signalId}`)).toEqual(["PPA:3"]);
    expect(
      keys("FILTER ActiveMeasurements WHERE Enabled AND Adder = 0 AND Multiplier = 1 AND Protocol IS NULL"),
    ).toHaveLength(8);
    expect(keys("FILTER MeasurementDetail WHERE DeviceAcronym = 'SHELBY' AND Internal")).toHaveLength(4);
    expect(keys("FILTER ActiveMeasurements WHERE Len(PointTag) > 100")).toEqual([]);
  });

  it("applies ORDER BY before TOP", () => {
    expect(
      keys("FILTER TOP 3 ActiveMeasurements WHERE SignalAcronym <> 'STAT' ORDER BY PointTag DESC"),
    ).toEqual(["PPA:8", "PPA:7", "PPA:6"]);
    expect(keys("FILTER TOP 0 ActiveMeasurements WHERE true")).toEqual([]);
    expect(keys("FILTER TOP -1 ActiveMeasurements WHERE true")).toHaveLength(8);
    expect(keys("FILTER ActiveMeasurements WHERE true ORDER BY SignalType DESC, ID ASC")).toEqual([
      "PPA:2",
      "PPA:4",
      "PPA:6",
      "PPA:8",
      "PPA:1",
      "PPA:3",
      "PPA:5",
      "PPA:7",
    ]);
  });

  it("puts identifier rows first, then each FILTER in order, without duplicates", () => {
    expect(keys("FILTER ActiveMeasurements WHERE Device LIKE 'SHEL%'; PPA:6; PPA:2")).toEqual([
      "PPA:6",
      "PPA:2",
      "PPA:1",
      "PPA:3",
      "PPA:4",
    ]);
  });

  it("evaluates bare expression statements against ActiveMeasurements", () => {
    expect(keys("PPA:8; SignalType = 'FREQ' AND ID LIKE '%:1'")).toEqual(["PPA:8", "PPA:1"]);
    expect(keys("ID='PPA:3'")).toEqual(["PPA:3"]);
    expect(keys("(ID<>'')AND(Device='OTHER')")).toEqual(["PPA:5", "PPA:6", "PPA:7", "PPA:8"]);
  });

  it("refuses unknown tables and columns, and evaluation errors", () => {
    expect(() => keys("FILTER Nope WHERE true")).toThrow(/Unknown table/);
    expect(() => keys("FILTER ActiveMeasurements WHERE Nope = 1")).toThrow(/Unknown column/);
    expect(() => keys("FILTER ActiveMeasurements WHERE true ORDER BY Nope")).toThrow(/ORDER BY/);
    expect(() => keys("FILTER ActiveMeasurements WHERE 1 / 0 = 1")).toThrow(SttpFilterError);
  });

  it("a WHERE clause that is not boolean selects nothing", () => {
    expect(keys("FILTER ActiveMeasurements WHERE 'abc'")).toEqual([]);
    expect(keys("FILTER ActiveMeasurements WHERE NULL")).toEqual([]);
  });
});

describe("filterMetadata", () => {
  it("applies MeasurementDetail filters and ignores other tables", () => {
    expect(
      filterMetadata("FILTER MeasurementDetail WHERE SignalAcronym = 'VPHM'", defs).map((d) => d.id),
    ).toEqual([2, 4, 6, 8]);
    expect(filterMetadata("FILTER DeviceDetail WHERE Acronym = 'X'", defs)).toBe(defs);
    expect(() => filterMetadata("FILTER MeasurementDetail WHERE (", defs)).toThrow(SttpFilterError);
  });
});

// --- fuzzing ---------------------------------------------------------------------------------------

const columnNames = [
  "ID",
  "SignalID",
  "PointTag",
  "SignalType",
  "Device",
  "Description",
  "Enabled",
  "Adder",
  "Protocol",
];

function print(e: FilterExpr): string {
  switch (e.kind) {
    case "literal": {
      const v = e.value;
      if (v.type === "null") return "NULL";
      if (v.type === "str") return `'${v.value.replace(/'/g, "''")}'`;
      if (v.type === "guid") return `{${v.value}}`;
      if (v.type === "date") return `#${new Date(v.value).toISOString()}#`;
      return String(v.value);
    }
    case "column":
      return `[${e.name}]`;
    case "unary":
      return `(${e.op}(${print(e.operand)}))`;
    case "not":
      return `(NOT (${print(e.operand)}))`;
    case "binary":
      return `(${print(e.left)} ${e.op} ${print(e.right)})`;
    case "logical":
      return `(${e.operands.map(print).join(e.op === "and" ? " AND " : " OR ")})`;
    case "isNull":
      return `(${print(e.operand)} IS ${e.negated ? "NOT " : ""}NULL)`;
    case "in":
      return `(${print(e.operand)} ${e.negated ? "NOT " : ""}IN ${e.exact ? "BINARY " : ""}(${e.list.map(print).join(", ")}))`;
    case "like":
      return `(${print(e.operand)} ${e.negated ? "NOT " : ""}LIKE ${e.exact ? "BINARY " : ""}${print(e.pattern)})`;
    case "call":
      return `${e.name}(${e.args.map(print).join(", ")})`;
  }
}

const literalArb: fc.Arbitrary<FilterExpr> = fc.oneof(
  fc.constant<FilterExpr>({ kind: "literal", value: { type: "null" } }),
  fc.boolean().map<FilterExpr>((value) => ({ kind: "literal", value: { type: "bool", value } })),
  fc.nat({ max: 1000 }).map<FilterExpr>((value) => ({ kind: "literal", value: { type: "int", value } })),
  fc
    .string({ maxLength: 8 })
    .map<FilterExpr>((value) => ({ kind: "literal", value: { type: "str", value } })),
  fc.uuid().map<FilterExpr>((value) => ({ kind: "literal", value: { type: "guid", value } })),
);

const exprArb: fc.Arbitrary<FilterExpr> = fc.letrec<{ e: FilterExpr }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    literalArb,
    fc.constantFrom(...columnNames).map<FilterExpr>((name) => ({ kind: "column", name })),
    fc.record({
      kind: fc.constant("unary" as const),
      op: fc.constantFrom("-" as const, "+" as const, "~" as const, "!" as const),
      operand: tie("e"),
    }),
    fc.record({ kind: fc.constant("not" as const), operand: tie("e") }),
    fc.record({
      kind: fc.constant("binary" as const),
      op: fc.constantFrom(
        "*",
        "/",
        "%",
        "+",
        "-",
        "<<",
        ">>",
        "&",
        "|",
        "^",
        "<",
        "<=",
        ">",
        ">=",
        "=",
        "===",
        "<>",
        "!==",
      ) as fc.Arbitrary<Extract<FilterExpr, { kind: "binary" }>["op"]>,
      left: tie("e"),
      right: tie("e"),
    }),
    fc.record({
      kind: fc.constant("logical" as const),
      op: fc.constantFrom("and" as const, "or" as const),
      operands: fc.array(tie("e"), { minLength: 2, maxLength: 3 }),
    }),
    fc.record({ kind: fc.constant("isNull" as const), negated: fc.boolean(), operand: tie("e") }),
    fc.record({
      kind: fc.constant("in" as const),
      negated: fc.boolean(),
      exact: fc.boolean(),
      operand: tie("e"),
      list: fc.array(tie("e"), { minLength: 1, maxLength: 3 }),
    }),
    fc.record({
      kind: fc.constant("like" as const),
      negated: fc.boolean(),
      exact: fc.boolean(),
      operand: tie("e"),
      pattern: tie("e"),
    }),
    fc.record({
      kind: fc.constant("call" as const),
      name: fc.constantFrom(
        "ABS",
        "LEN",
        "UPPER",
        "COALESCE",
        "IIF",
        "CONTAINS",
        "SUBSTR",
        "ISREGEXMATCH",
        "REPLACE",
        "ROUND",
        "CONVERT",
      ),
      args: fc.array(tie("e"), { maxLength: 3 }),
    }),
  ),
})).e;

/** Only SttpFilterError may escape. */
function onlyFilterErrors(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof SttpFilterError)) throw error;
  }
}

describe("fuzzing", () => {
  it("random strings give a result or SttpFilterError", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        onlyFilterErrors(() => resolveFilterExpression(text, defs));
        onlyFilterErrors(() => resolveFilterExpression(`FILTER ActiveMeasurements WHERE ${text}`, defs));
      }),
      { numRuns: 500 },
    );
  });

  it("random token soups give a result or SttpFilterError", () => {
    const tokenArb = fc.constantFrom(
      "FILTER",
      "TOP",
      "10",
      "ActiveMeasurements",
      "WHERE",
      "ORDER",
      "BY",
      "DESC",
      "(",
      ")",
      ",",
      ";",
      "AND",
      "OR",
      "NOT",
      "IS",
      "NULL",
      "IN",
      "LIKE",
      "BINARY",
      "=",
      "===",
      "<>",
      "<",
      "+",
      "-",
      "*",
      "/",
      "%",
      "<<",
      "&",
      "|",
      "^",
      "!",
      "~",
      "'x'",
      "'%a%'",
      "1.5",
      "0x10",
      "true",
      "PointTag",
      "ID",
      "Len",
      "IIf",
      "SubStr",
      "#2026-01-01#",
      "PPA:1",
      "{6f9619ff-8b86-d011-b42d-00c04fc964ff}",
    );
    fc.assert(
      fc.property(fc.array(tokenArb, { maxLength: 30 }), (tokens) => {
        onlyFilterErrors(() => resolveFilterExpression(tokens.join(" "), defs));
      }),
      { numRuns: 1000 },
    );
  });

  it("printed random syntax trees parse back and evaluate or raise SttpFilterError", () => {
    fc.assert(
      fc.property(exprArb, (expr) => {
        const text = `FILTER ActiveMeasurements WHERE ${print(expr)}`;
        onlyFilterErrors(() => resolveFilterExpression(text, defs));
        // The printed form re-parses to the same printed form (the printer fully parenthesises).
        let reparsed: FilterExpr | undefined;
        onlyFilterErrors(() => {
          reparsed = parseExpression(print(expr));
        });
        if (reparsed) expect(print(reparsed)).toBe(print(normalise(expr)));
      }),
      { numRuns: 500 },
    );
  });
});

/** What the parser builds for a printed tree: nested same-operator logical chains are flattened. */
function normalise(e: FilterExpr): FilterExpr {
  switch (e.kind) {
    case "unary":
      // `(!x)` parses as the expression-level NOT (the grammar's first alternative); same meaning.
      if (e.op === "!") return { kind: "not", operand: normalise(e.operand) };
      return { ...e, operand: normalise(e.operand) };
    case "not":
    case "isNull":
      return { ...e, operand: normalise(e.operand) };
    case "binary":
      return { ...e, left: normalise(e.left), right: normalise(e.right) };
    case "logical":
      return { ...e, operands: e.operands.map(normalise) };
    case "in":
      return { ...e, operand: normalise(e.operand), list: e.list.map(normalise) };
    case "like":
      return { ...e, operand: normalise(e.operand), pattern: normalise(e.pattern) };
    case "call":
      return { ...e, args: e.args.map(normalise) };
    default:
      return e;
  }
}
