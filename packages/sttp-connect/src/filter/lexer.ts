/**
 * Lexer for STTP filter expressions (the `FilterExpressionSyntax` grammar of sttp/filter-expressions).
 * Keywords are case-insensitive; every failure is an {@link SttpFilterError} carrying the offset.
 */
import { SttpFilterError } from "../errors.js";

export type TokenKind =
  | "ident" // column or table name, keyword, function name (unquoted or [..] / `..`)
  | "int"
  | "num"
  | "str"
  | "guid"
  | "date"
  | "op" // punctuation and symbolic operators
  | "eof";

export interface Token {
  readonly kind: TokenKind;
  /** Identifier text (quotes removed), literal text (string unescaped, GUID normalised), or operator. */
  readonly text: string;
  /** Upper-cased text for unquoted identifiers (keyword matching); `""` for quoted ones. */
  readonly keyword: string;
  /** Offset in the whole filter expression. */
  readonly position: number;
}

/** A filter error at a known offset of the expression. */
export function filterError(message: string, position: number): SttpFilterError {
  return new SttpFilterError(`${message} at position ${position}`, { position });
}

// A GUID as the grammar writes it: 8-4-4-4-12 hex digits, each dash optional.
const GUID_BODY = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}";
const BARE_GUID = new RegExp(`^${GUID_BODY}(?![0-9a-zA-Z_])`);
const BRACED_GUID = new RegExp(`^\\{(${GUID_BODY})\\}`);
const WHOLE_GUID = new RegExp(`^${GUID_BODY}$`);

/** Canonical lower-case 8-4-4-4-12 form of a GUID text in any of the accepted spellings. */
export function canonicalGuid(text: string): string {
  const hex = text.replace(/[{}'-]/g, "").toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function isGuidText(text: string): boolean {
  return WHOLE_GUID.test(text);
}

// Longest first, so `!==` wins over `!=` and `!`.
const OPERATORS = [
  "===",
  "!==",
  "<<",
  ">>",
  "<=",
  ">=",
  "==",
  "!=",
  "<>",
  "&&",
  "||",
  "<",
  ">",
  "=",
  "!",
  "~",
  "&",
  "|",
  "^",
  "*",
  "/",
  "%",
  "+",
  "-",
  "(",
  ")",
  ",",
  ";",
];

function isIdentStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
}
function isIdentPart(c: string): boolean {
  return isIdentStart(c) || (c >= "0" && c <= "9");
}
function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

/**
 * Splits `source` (a slice of the whole expression starting at `base`) into tokens. Comments (`--` to
 * the end of the line, `/* … *\/`) and whitespace are skipped.
 */
export function tokenize(source: string, base = 0): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = source.length;
  const push = (kind: TokenKind, text: string, start: number, keyword = "") =>
    tokens.push({ kind, text, keyword, position: base + start });
  while (i < n) {
    const c = source[i] as string;
    if (c === " " || c === "\t" || c === "\r" || c === "\n" || c === "\v") {
      i++;
      continue;
    }
    if (c === "-" && source[i + 1] === "-") {
      const end = source.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    const start = i;
    // GUIDs come before numbers and identifiers: `1b2c…` and `abcd…` both start one.
    if (c === "{") {
      const m = BRACED_GUID.exec(source.slice(i, i + 40));
      if (!m) throw filterError("Unexpected character '{'", base + i);
      push("guid", canonicalGuid(m[1] as string), start);
      i += m[0].length;
      continue;
    }
    if (/[0-9a-fA-F]/.test(c)) {
      const m = BARE_GUID.exec(source.slice(i, i + 37));
      if (m) {
        push("guid", canonicalGuid(m[0]), start);
        i += m[0].length;
        continue;
      }
    }
    if (c === "'") {
      let text = "";
      i++;
      for (;;) {
        if (i >= n) throw filterError("Unterminated string literal", base + start);
        const d = source[i] as string;
        if (d === "'") {
          if (source[i + 1] === "'") {
            text += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += d;
        i++;
      }
      // The grammar lexes a quoted GUID as a GUID literal, not a string.
      if (WHOLE_GUID.test(text)) push("guid", canonicalGuid(text), start);
      else push("str", text, start);
      continue;
    }
    if (c === "#") {
      const end = source.indexOf("#", i + 1);
      if (end < 0 || end === i + 1) throw filterError("Unterminated date-time literal", base + start);
      push("date", source.slice(i + 1, end), start);
      i = end + 1;
      continue;
    }
    if (c === "[" || c === "`") {
      const close = c === "[" ? "]" : "`";
      const end = source.indexOf(close, i + 1);
      if (end < 0 || end === i + 1) throw filterError("Unterminated quoted identifier", base + start);
      push("ident", source.slice(i + 1, end), start);
      i = end + 1;
      continue;
    }
    if (isDigit(c) || (c === "." && isDigit(source[i + 1]))) {
      if (c === "0" && (source[i + 1] === "x" || source[i + 1] === "X")) {
        let j = i + 2;
        while (j < n && /[0-9a-fA-F]/.test(source[j] as string)) j++;
        if (j === i + 2) throw filterError("Malformed hexadecimal literal", base + start);
        push("int", source.slice(i, j), start);
        i = j;
        continue;
      }
      let j = i;
      let numeric = false;
      while (isDigit(source[j])) j++;
      if (source[j] === ".") {
        numeric = true;
        j++;
        while (isDigit(source[j])) j++;
      }
      if (
        (source[j] === "e" || source[j] === "E") &&
        (isDigit(source[j + 1]) ||
          ((source[j + 1] === "+" || source[j + 1] === "-") && isDigit(source[j + 2])))
      ) {
        numeric = true;
        j += 2;
        while (isDigit(source[j])) j++;
      }
      push(numeric ? "num" : "int", source.slice(i, j), start);
      i = j;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(source[j] as string)) j++;
      const text = source.slice(i, j);
      push("ident", text, start, text.toUpperCase());
      i = j;
      continue;
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i));
    if (op === undefined) throw filterError(`Unexpected character '${c}'`, base + i);
    push("op", op, start);
    i += op.length;
  }
  tokens.push({ kind: "eof", text: "", keyword: "", position: base + n });
  return tokens;
}
