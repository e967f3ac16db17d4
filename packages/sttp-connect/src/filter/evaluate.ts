/**
 * Evaluation of filter-expression syntax trees against metadata rows.
 *
 * Values are typed (null, boolean, integer, number, string, GUID, date-time). Null semantics follow
 * SQL three-valued logic as the reference does: comparisons and arithmetic with NULL give NULL,
 * `NULL AND FALSE` is FALSE, `NULL OR TRUE` is TRUE, and a WHERE clause selects a row only when it
 * evaluates to TRUE. String comparison is case-insensitive except for `===`, `!==` and the
 * `BINARY`/`===` modifiers of IN and LIKE.
 */

import { SttpFilterError } from "../errors.js";
import type { Expr, Literal } from "./ast.js";

export type Value = Literal;

/** A table of metadata rows: upper-cased column name → value. */
export interface FilterTable {
  readonly name: string;
  /** Upper-cased column names. */
  readonly columns: ReadonlySet<string>;
  readonly rows: readonly ReadonlyMap<string, Value>[];
}

/** Longest string an expression may compute. */
export const MAX_STRING_LENGTH = 1_048_576;
/**
 * Most syntax-tree nodes evaluated for one filter expression over all rows (bounds the CPU a
 * subscriber can spend, e.g. a 60 000-item IN list against a large metadata set).
 */
export const MAX_EVALUATION_STEPS = 5_000_000;

let steps = 0;

/** Starts a new evaluation budget (one per filter expression). */
export function resetEvaluationBudget(): void {
  steps = 0;
}

/** Longest pattern accepted by the regular-expression functions. */
export const MAX_REGEX_PATTERN_LENGTH = 256;
/** Longest input matched by the regular-expression functions (longer values are truncated). */
export const MAX_REGEX_INPUT_LENGTH = 256;
/**
 * Most unbounded quantifiers (`*`, `+`, `{n,}`) in one pattern: with k of them a backtracking match
 * costs up to O(n^(k+1)) on an n-character input, so k ≤ 2 and n ≤ 256 keep one match in the tens of
 * milliseconds at worst.
 */
export const MAX_REGEX_UNBOUNDED_QUANTIFIERS = 2;

const NULL: Value = { type: "null" };
const TRUE: Value = { type: "bool", value: true };
const FALSE: Value = { type: "bool", value: false };

function bool(value: boolean): Value {
  return value ? TRUE : FALSE;
}
type NumValue = { readonly type: "int" | "num"; readonly value: number };

function int(value: number): NumValue {
  return Number.isSafeInteger(value) ? { type: "int", value } : { type: "num", value };
}
function num(value: number): NumValue {
  return { type: "num", value };
}
function str(value: string): Value {
  // Replace can multiply a string's length at every nesting level; refuse before memory runs out.
  if (value.length > MAX_STRING_LENGTH) fail(`String result longer than ${MAX_STRING_LENGTH} characters`);
  return { type: "str", value };
}

function fail(message: string): never {
  // Evaluation errors concern a row, not a place in the text.
  throw new SttpFilterError(message, { position: 0 });
}

/** Text form of a value (as Convert(x, 'System.String') would give). */
export function valueToString(v: Value): string {
  switch (v.type) {
    case "null":
      return "";
    case "bool":
      return v.value ? "True" : "False";
    case "int":
    case "num":
      return String(v.value);
    case "str":
      return v.value;
    case "guid":
      return v.value;
    case "date":
      return new Date(v.value).toISOString();
  }
}

function isNumeric(v: Value): v is Extract<Value, { type: "int" | "num" }> {
  return v.type === "int" || v.type === "num";
}

function parseNumber(text: string): NumValue | undefined {
  const t = text.trim();
  if (t.length === 0) return undefined;
  if (/^[-+]?\d+$/.test(t)) return int(Number(t));
  if (/^0x[0-9a-f]+$/i.test(t)) return int(Number(t));
  const n = Number(t);
  return Number.isFinite(n) ? num(n) : undefined;
}

function toNumber(v: Value, what: string): NumValue {
  if (isNumeric(v)) return v;
  if (v.type === "bool") return int(v.value ? 1 : 0);
  if (v.type === "str") {
    const parsed = parseNumber(v.value);
    if (parsed) return parsed;
  }
  return fail(`Cannot use ${describeValue(v)} as a number in ${what}`);
}

function toInteger(v: Value, what: string): number {
  const n = toNumber(v, what);
  if (n.type === "int") return n.value;
  // BigInt() (bitwise operators) throws a RangeError on NaN and infinities.
  if (!Number.isFinite(n.value)) fail(`Cannot use ${n.value} as an integer in ${what}`);
  return Math.trunc(n.value);
}

function toBoolean(v: Value, what: string): boolean | null {
  switch (v.type) {
    case "null":
      return null;
    case "bool":
      return v.value;
    case "int":
    case "num":
      return v.value !== 0;
    case "str": {
      const t = v.value.trim().toLowerCase();
      if (t === "true") return true;
      if (t === "false") return false;
      const n = parseNumber(t);
      if (n && isNumeric(n)) return n.value !== 0;
      break;
    }
    default:
      break;
  }
  return fail(`Cannot use ${describeValue(v)} as a boolean in ${what}`);
}

function describeValue(v: Value): string {
  if (v.type === "str") return `string '${v.value.slice(0, 40)}'`;
  return `${v.type} ${valueToString(v).slice(0, 40)}`;
}

/**
 * Compares two non-null values: the right operand is converted to the left operand's type (as the
 * reference does); when that is impossible, both are compared as strings. Returns <0, 0 or >0.
 */
export function compareValues(a: Value, b: Value, exact: boolean): number {
  if (isNumeric(a) || isNumeric(b)) {
    const x = isNumeric(a) ? a : tryNumber(a);
    const y = isNumeric(b) ? b : tryNumber(b);
    if (x && y)
      return (x.value as number) < (y.value as number)
        ? -1
        : (x.value as number) > (y.value as number)
          ? 1
          : 0;
  }
  if (a.type === "bool" || b.type === "bool") {
    const x = a.type === "bool" ? a.value : tryBoolean(a);
    const y = b.type === "bool" ? b.value : tryBoolean(b);
    if (x !== undefined && y !== undefined) return Number(x) - Number(y);
  }
  if (a.type === "date" || b.type === "date") {
    const x = a.type === "date" ? a.value : a.type === "str" ? Date.parse(a.value) : Number.NaN;
    const y = b.type === "date" ? b.value : b.type === "str" ? Date.parse(b.value) : Number.NaN;
    if (!Number.isNaN(x) && !Number.isNaN(y)) return x < y ? -1 : x > y ? 1 : 0;
  }
  let x = valueToString(a);
  let y = valueToString(b);
  // GUIDs compare by value whatever their spelling.
  if (a.type === "guid" || b.type === "guid") {
    x = normalizeGuidText(x);
    y = normalizeGuidText(y);
  } else if (!exact) {
    x = x.toUpperCase();
    y = y.toUpperCase();
  }
  return x < y ? -1 : x > y ? 1 : 0;
}

function normalizeGuidText(text: string): string {
  return text.replace(/[{}\s-]/g, "").toLowerCase();
}

function tryNumber(v: Value): { type: "int" | "num"; value: number } | undefined {
  if (v.type === "str") {
    const n = parseNumber(v.value);
    return n && isNumeric(n) ? n : undefined;
  }
  if (v.type === "bool") return { type: "int", value: v.value ? 1 : 0 };
  return undefined;
}

function tryBoolean(v: Value): boolean | undefined {
  if (v.type === "str") {
    const t = v.value.trim().toLowerCase();
    return t === "true" ? true : t === "false" ? false : undefined;
  }
  if (isNumeric(v)) return v.value !== 0;
  return undefined;
}

/** Evaluates `expr` for one row. Unknown columns raise {@link SttpFilterError}. */
export function evaluate(expr: Expr, row: ReadonlyMap<string, Value>): Value {
  if (++steps > MAX_EVALUATION_STEPS)
    fail(`Filter expression needs more than ${MAX_EVALUATION_STEPS} evaluation steps`);
  switch (expr.kind) {
    case "literal":
      return expr.value;
    case "column": {
      const value = row.get(expr.name.toUpperCase());
      if (value === undefined) return fail(`Unknown column "${expr.name}"`);
      return value;
    }
    case "unary":
      return unary(expr.op, evaluate(expr.operand, row));
    case "not": {
      const b = toBoolean(evaluate(expr.operand, row), "NOT");
      return b === null ? NULL : bool(!b);
    }
    case "logical": {
      // Three-valued AND/OR with short-circuit on the deciding value.
      const decisive = expr.op === "or";
      let sawNull = false;
      for (const operand of expr.operands) {
        const b = toBoolean(evaluate(operand, row), expr.op.toUpperCase());
        if (b === null) sawNull = true;
        else if (b === decisive) return bool(decisive);
      }
      return sawNull ? NULL : bool(!decisive);
    }
    case "isNull": {
      const isNull = evaluate(expr.operand, row).type === "null";
      return bool(expr.negated ? !isNull : isNull);
    }
    case "in": {
      const v = evaluate(expr.operand, row);
      if (v.type === "null") return NULL;
      let sawNull = false;
      for (const item of expr.list) {
        const w = evaluate(item, row);
        if (w.type === "null") sawNull = true;
        else if (compareValues(v, w, expr.exact) === 0) return bool(!expr.negated);
      }
      return sawNull ? NULL : bool(expr.negated);
    }
    case "like": {
      const v = evaluate(expr.operand, row);
      const p = evaluate(expr.pattern, row);
      if (v.type === "null" || p.type === "null") return NULL;
      const matched = likeMatch(valueToString(v), valueToString(p), expr.exact);
      return bool(expr.negated ? !matched : matched);
    }
    case "binary":
      return binary(expr.op, evaluate(expr.left, row), evaluate(expr.right, row));
    case "call":
      return callFunction(expr.name, expr.args, row);
  }
}

function unary(op: "-" | "+" | "~" | "!", v: Value): Value {
  if (v.type === "null") return NULL;
  switch (op) {
    case "+":
      return toNumber(v, "unary +");
    case "-": {
      const n = toNumber(v, "unary -");
      return n.type === "int" ? int(-n.value) : num(-(n.value as number));
    }
    case "~":
      if (v.type === "bool") return bool(!v.value);
      return int(Number(BigInt.asIntN(64, ~BigInt(toInteger(v, "~")))));
    case "!": {
      const b = toBoolean(v, "NOT");
      return b === null ? NULL : bool(!b);
    }
  }
}

function binary(op: string, a: Value, b: Value): Value {
  if (op === "===" || op === "!==" || op === "=" || op === "<>") {
    if (a.type === "null" || b.type === "null") return NULL;
    const equal = compareValues(a, b, op === "===" || op === "!==") === 0;
    return bool(op === "=" || op === "===" ? equal : !equal);
  }
  if (a.type === "null" || b.type === "null") return NULL;
  switch (op) {
    case "<":
      return bool(compareValues(a, b, false) < 0);
    case "<=":
      return bool(compareValues(a, b, false) <= 0);
    case ">":
      return bool(compareValues(a, b, false) > 0);
    case ">=":
      return bool(compareValues(a, b, false) >= 0);
    case "+":
      if (a.type === "str" || b.type === "str") return str(valueToString(a) + valueToString(b));
      return arithmetic(op, a, b);
    case "-":
    case "*":
    case "/":
    case "%":
      return arithmetic(op, a, b);
    default:
      return bitwise(op, a, b);
  }
}

function arithmetic(op: string, a: Value, b: Value): Value {
  const x = toNumber(a, op);
  const y = toNumber(b, op);
  const l = x.value as number;
  const r = y.value as number;
  const integers = x.type === "int" && y.type === "int";
  switch (op) {
    case "+":
      return integers ? int(l + r) : num(l + r);
    case "-":
      return integers ? int(l - r) : num(l - r);
    case "*":
      return integers ? int(l * r) : num(l * r);
    case "/":
      if (integers) {
        if (r === 0) return fail("Integer division by zero");
        return int(Math.trunc(l / r));
      }
      return num(l / r);
    default:
      if (integers) {
        if (r === 0) return fail("Integer modulus by zero");
        return int(l % r);
      }
      return num(l % r);
  }
}

function bitwise(op: string, a: Value, b: Value): Value {
  if (a.type === "bool" && b.type === "bool" && (op === "&" || op === "|" || op === "^")) {
    return bool(op === "&" ? a.value && b.value : op === "|" ? a.value || b.value : a.value !== b.value);
  }
  const x = BigInt(toInteger(a, op));
  const y = BigInt(toInteger(b, op));
  let r: bigint;
  switch (op) {
    case "<<":
      r = x << (y & 63n);
      break;
    case ">>":
      r = x >> (y & 63n);
      break;
    case "&":
      r = x & y;
      break;
    case "|":
      r = x | y;
      break;
    default:
      r = x ^ y;
      break;
  }
  return int(Number(BigInt.asIntN(64, r)));
}

/**
 * LIKE as the reference: `%` and `*` match any run of characters (anywhere in the pattern), other
 * characters match themselves, case-insensitively unless exact. Implemented without regular
 * expressions, in O(pattern × value) time.
 */
export function likeMatch(value: string, pattern: string, exact: boolean): boolean {
  const v = exact ? value : value.toUpperCase();
  const p = (exact ? pattern : pattern.toUpperCase()).replace(/\*/g, "%");
  // Greedy wildcard matching with one backtrack point: linear-ish, never exponential.
  let vi = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (vi < v.length) {
    if (pi < p.length && p[pi] !== "%" && p[pi] === v[vi]) {
      vi++;
      pi++;
    } else if (pi < p.length && p[pi] === "%") {
      star = pi++;
      mark = vi;
    } else if (star >= 0) {
      pi = star + 1;
      vi = ++mark;
    } else return false;
  }
  while (pi < p.length && p[pi] === "%") pi++;
  return pi === p.length;
}

const regexCache = new Map<string, RegExp>();

/**
 * Compiles a user regular expression after rejecting the shapes that make a backtracking engine
 * exponential: a quantified group that itself contains a quantifier or an alternation (`(a+)+`,
 * `(a|a)*`), backreferences, and more than {@link MAX_REGEX_UNBOUNDED_QUANTIFIERS} unbounded
 * quantifiers. Patterns are capped at {@link MAX_REGEX_PATTERN_LENGTH} and inputs at
 * {@link MAX_REGEX_INPUT_LENGTH}, which bounds the remaining (polynomial) cost.
 */
export function compileRegex(pattern: string): RegExp {
  const cached = regexCache.get(pattern);
  if (cached) return cached;
  if (pattern.length > MAX_REGEX_PATTERN_LENGTH)
    fail(`Regular expression longer than ${MAX_REGEX_PATTERN_LENGTH} characters`);
  if (/\\[1-9]|\\k</.test(pattern)) fail("Backreferences are not allowed in regular expressions");
  // Track, per open group, whether it contains a quantifier or an alternation.
  const stack: boolean[] = [];
  let risky = false;
  let unbounded = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "[") {
      // Skip a character class.
      let j = i + 1;
      if (pattern[j] === "^") j++;
      if (pattern[j] === "]") j++;
      while (j < pattern.length && pattern[j] !== "]") j += pattern[j] === "\\" ? 2 : 1;
      i = j;
      continue;
    }
    if (c === "(") {
      stack.push(false);
      // Group prefixes `(?:`, `(?=`, `(?!`, `(?<=`, `(?<!`, `(?<name>` are not quantifiers.
      if (pattern[i + 1] === "?") {
        i += 2;
        if (pattern[i] === "<" && pattern[i + 1] !== "=" && pattern[i + 1] !== "!") {
          const end = pattern.indexOf(">", i);
          i = end < 0 ? pattern.length : end;
        } else if (pattern[i] === "<") i++;
      }
    } else if (c === ")") {
      const inner = stack.pop() ?? false;
      const q = pattern[i + 1];
      const quantified = q === "*" || q === "+" || q === "?" || q === "{";
      if (inner && quantified) risky = true;
      if (stack.length > 0 && (inner || quantified)) stack[stack.length - 1] = true;
    } else if (c === "*" || c === "+" || c === "{" || c === "|" || c === "?") {
      if (stack.length > 0) stack[stack.length - 1] = true;
      if (c === "*" || c === "+" || (c === "{" && /^\{\d*,\}/.test(pattern.slice(i, i + 12)))) unbounded++;
    }
  }
  if (risky) fail("Nested quantifiers are not allowed in regular expressions");
  if (unbounded > MAX_REGEX_UNBOUNDED_QUANTIFIERS)
    fail(`More than ${MAX_REGEX_UNBOUNDED_QUANTIFIERS} unbounded quantifiers in a regular expression`);
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch (error) {
    return fail(`Invalid regular expression: ${(error as Error).message}`);
  }
  if (regexCache.size >= 256) regexCache.clear();
  regexCache.set(pattern, regex);
  return regex;
}

function text(v: Value): string {
  const t = valueToString(v);
  return t;
}

function argCount(name: string, args: readonly Expr[], min: number, max = min): void {
  if (args.length < min || args.length > max)
    fail(
      `${name} expects ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? "" : "s"}, got ${args.length}`,
    );
}

function optionalIgnoreCase(args: readonly Value[], index: number): boolean {
  const v = args[index];
  if (v === undefined || v.type === "null") return false;
  return toBoolean(v, "ignoreCase") === true;
}

function fold(s: string, ignoreCase: boolean): string {
  return ignoreCase ? s.toUpperCase() : s;
}

function nthIndexOf(source: string, test: string, n: number): number {
  if (n < 1 || test.length === 0) return -1;
  let from = 0;
  for (let k = 0; k < n; k++) {
    const at = source.indexOf(test, from);
    if (at < 0) return -1;
    if (k === n - 1) return at;
    from = at + test.length;
  }
  return -1;
}

function convert(v: Value, typeName: string): Value {
  const t = typeName.replace(/^system\./i, "").toLowerCase();
  if (v.type === "null") return NULL;
  switch (t) {
    case "string":
      return str(valueToString(v));
    case "boolean":
    case "bool":
      return bool(toBoolean(v, "Convert") === true);
    case "int16":
    case "int32":
    case "int64":
    case "uint16":
    case "uint32":
    case "uint64":
    case "byte":
    case "sbyte":
    case "integer":
      return int(toInteger(v, "Convert"));
    case "single":
    case "double":
    case "decimal":
      return num(toNumber(v, "Convert").value as number);
    case "guid": {
      const s = normalizeGuidText(valueToString(v));
      if (!/^[0-9a-f]{32}$/.test(s)) return fail(`Cannot convert ${describeValue(v)} to Guid`);
      return {
        type: "guid",
        value: `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`,
      };
    }
    case "datetime": {
      const ms = v.type === "date" ? v.value : Date.parse(valueToString(v));
      if (Number.isNaN(ms)) return fail(`Cannot convert ${describeValue(v)} to DateTime`);
      return { type: "date", value: ms };
    }
    default:
      return fail(`Unsupported Convert target type '${typeName}'`);
  }
}

function callFunction(name: string, argExprs: readonly Expr[], row: ReadonlyMap<string, Value>): Value {
  // Functions whose arguments are evaluated lazily.
  if (name === "IIF") {
    argCount("IIf", argExprs, 3);
    const test = toBoolean(evaluate(argExprs[0] as Expr, row), "IIf");
    return evaluate((test === true ? argExprs[1] : argExprs[2]) as Expr, row);
  }
  if (name === "COALESCE" || name === "ISNULL") {
    if (name === "ISNULL") argCount("IsNull", argExprs, 2);
    else if (argExprs.length < 1) fail("Coalesce expects at least 1 argument");
    for (const a of argExprs) {
      const v = evaluate(a, row);
      if (v.type !== "null") return v;
    }
    return NULL;
  }
  const args = argExprs.map((a) => evaluate(a, row));
  const a0 = args[0] ?? NULL;
  const a1 = args[1] ?? NULL;
  const a2 = args[2] ?? NULL;
  switch (name) {
    case "ABS":
    case "CEILING":
    case "FLOOR":
    case "ROUND":
    case "SQRT": {
      argCount(name, argExprs, 1, name === "ROUND" ? 2 : 1);
      if (a0.type === "null") return NULL;
      const n = toNumber(a0, name);
      const x = n.value as number;
      if (name === "ABS") return n.type === "int" ? int(Math.abs(x)) : num(Math.abs(x));
      if (name === "SQRT") return num(Math.sqrt(x));
      if (n.type === "int") return n;
      if (name === "CEILING") return num(Math.ceil(x));
      if (name === "FLOOR") return num(Math.floor(x));
      const digits =
        args.length > 1 && a1.type !== "null" ? Math.max(0, Math.min(15, toInteger(a1, name))) : 0;
      const scale = 10 ** digits;
      // Midpoints round to even, as .NET's Math.Round does by default.
      const scaled = x * scale;
      const floor = Math.floor(scaled);
      const diff = scaled - floor;
      const rounded = diff > 0.5 || (diff === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
      return num(rounded / scale);
    }
    case "POWER": {
      argCount("Power", argExprs, 2);
      if (a0.type === "null" || a1.type === "null") return NULL;
      const x = toNumber(a0, name);
      const y = toNumber(a1, name);
      const r = (x.value as number) ** (y.value as number);
      return x.type === "int" && y.type === "int" && (y.value as number) >= 0 ? int(r) : num(r);
    }
    case "MAXOF":
    case "MINOF": {
      if (args.length < 1) fail(`${name} expects at least 1 argument`);
      let best: Value = NULL;
      for (const v of args) {
        if (v.type === "null") continue;
        if (best.type === "null") best = v;
        else {
          const c = compareValues(v, best, false);
          if (name === "MAXOF" ? c > 0 : c < 0) best = v;
        }
      }
      return best;
    }
    case "LEN":
      argCount("Len", argExprs, 1);
      return a0.type === "null" ? NULL : int(text(a0).length);
    case "LOWER":
    case "UPPER":
    case "TRIM":
    case "TRIMLEFT":
    case "TRIMRIGHT":
    case "REVERSE": {
      argCount(name, argExprs, 1);
      if (a0.type === "null") return NULL;
      const s = text(a0);
      if (name === "LOWER") return str(s.toLowerCase());
      if (name === "UPPER") return str(s.toUpperCase());
      if (name === "TRIM") return str(s.trim());
      if (name === "TRIMLEFT") return str(s.trimStart());
      if (name === "TRIMRIGHT") return str(s.trimEnd());
      return str(Array.from(s).reverse().join(""));
    }
    case "CONTAINS":
    case "STARTSWITH":
    case "ENDSWITH":
    case "INDEXOF":
    case "LASTINDEXOF":
    case "STRCMP":
    case "STRCOUNT": {
      argCount(name, argExprs, 2, 3);
      if (a0.type === "null" || a1.type === "null")
        return name === "STRCMP" || name.endsWith("OF") || name === "STRCOUNT" ? NULL : FALSE;
      const ignoreCase = optionalIgnoreCase(args, 2);
      const s = fold(text(a0), ignoreCase);
      const t = fold(text(a1), ignoreCase);
      if (name === "CONTAINS") return bool(s.includes(t));
      if (name === "STARTSWITH") return bool(s.startsWith(t));
      if (name === "ENDSWITH") return bool(s.endsWith(t));
      if (name === "INDEXOF") return int(s.indexOf(t));
      if (name === "LASTINDEXOF") return int(s.lastIndexOf(t));
      if (name === "STRCMP") return int(s < t ? -1 : s > t ? 1 : 0);
      if (t.length === 0) return int(0);
      return int(s.split(t).length - 1);
    }
    case "NTHINDEXOF": {
      argCount("NthIndexOf", argExprs, 3, 4);
      if (a0.type === "null" || a1.type === "null" || a2.type === "null") return NULL;
      const ignoreCase = optionalIgnoreCase(args, 3);
      return int(nthIndexOf(fold(text(a0), ignoreCase), fold(text(a1), ignoreCase), toInteger(a2, name)));
    }
    case "SUBSTR": {
      argCount("SubStr", argExprs, 2, 3);
      if (a0.type === "null" || a1.type === "null") return NULL;
      const s = text(a0);
      const start = toInteger(a1, name);
      if (start < 0 || start > s.length) return fail(`SubStr index ${start} is outside the string`);
      if (args.length < 3 || a2.type === "null") return str(s.slice(start));
      const length = toInteger(a2, name);
      if (length < 0 || start + length > s.length)
        return fail(`SubStr length ${length} is outside the string`);
      return str(s.slice(start, start + length));
    }
    case "REPLACE": {
      argCount("Replace", argExprs, 3, 4);
      if (a0.type === "null" || a1.type === "null" || a2.type === "null") return NULL;
      const test = text(a1);
      if (test.length === 0) return str(text(a0));
      if (!optionalIgnoreCase(args, 3)) return str(text(a0).split(test).join(text(a2)));
      const escaped = test.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      return str(text(a0).replace(new RegExp(escaped, "gi"), () => text(a2)));
    }
    case "SPLIT": {
      argCount("Split", argExprs, 3, 4);
      if (a0.type === "null" || a1.type === "null" || a2.type === "null") return NULL;
      const ignoreCase = optionalIgnoreCase(args, 3);
      const s = text(a0);
      const d = text(a1);
      const index = toInteger(a2, name);
      if (d.length === 0) return index === 0 ? str(s) : NULL;
      const pieces: string[] = [];
      const folded = fold(s, ignoreCase);
      const fd = fold(d, ignoreCase);
      let from = 0;
      for (;;) {
        const at = folded.indexOf(fd, from);
        if (at < 0) break;
        pieces.push(s.slice(from, at));
        from = at + d.length;
      }
      pieces.push(s.slice(from));
      return index >= 0 && index < pieces.length ? str(pieces[index] as string) : NULL;
    }
    case "REGEXMATCH":
    case "ISREGEXMATCH":
    case "REGEXVAL": {
      argCount(name, argExprs, 2);
      if (a0.type === "null" || a1.type === "null") return name === "REGEXVAL" ? NULL : FALSE;
      const regex = compileRegex(text(a0));
      const input = text(a1).slice(0, MAX_REGEX_INPUT_LENGTH);
      const m = regex.exec(input);
      if (name === "REGEXVAL") return m ? str(m[0]) : str("");
      return bool(m !== null);
    }
    case "CONVERT":
      argCount("Convert", argExprs, 2);
      if (a1.type === "null") return fail("Convert expects a type name");
      return convert(a0, text(a1));
    case "ISDATE":
      argCount("IsDate", argExprs, 1);
      return bool(a0.type === "date" || (a0.type === "str" && !Number.isNaN(Date.parse(a0.value))));
    case "ISINTEGER":
      argCount("IsInteger", argExprs, 1);
      return bool(a0.type === "int" || (a0.type === "str" && /^\s*[-+]?\d+\s*$/.test(a0.value)));
    case "ISNUMERIC":
      argCount("IsNumeric", argExprs, 1);
      return bool(isNumeric(a0) || (a0.type === "str" && parseNumber(a0.value) !== undefined));
    case "ISGUID":
      argCount("IsGuid", argExprs, 1);
      return bool(
        a0.type === "guid" || (a0.type === "str" && /^[0-9a-f]{32}$/.test(normalizeGuidText(a0.value))),
      );
    case "NOW":
    case "UTCNOW":
      argCount(name, argExprs, 0);
      return { type: "date", value: Date.now() };
    default:
      return fail(`Function ${name} is not supported`);
  }
}
