/**
 * Hand-written recursive-descent parser for STTP filter expressions. It follows the operator
 * precedence of the `FilterExpressionSyntax.g4` grammar (highest first):
 *
 *   unary `- + ~ ! NOT` · `* / %` · `+ -` · `<< >> & | ^ XOR` · `< <= > >=` · `= == === != !== <>` ·
 *   `IS [NOT] NULL`, `[NOT] IN (…)`, `[NOT] LIKE …` · `NOT` · `AND &&` · `OR ||`
 *
 * Hostile input is bounded: the expression length, the syntax-tree depth (so `((((…` and long operator
 * chains cannot overflow the stack in the parser or the evaluator) and list sizes.
 */
import type { BinaryOperator, Expr, Literal, OrderByTerm, Statement } from "./ast.js";
import { filterError, isGuidText, type Token, tokenize } from "./lexer.js";

/** Longest filter expression accepted, in UTF-16 code units. */
export const MAX_FILTER_EXPRESSION_LENGTH = 65_536;
/** Deepest syntax tree accepted (parentheses, unary operators, function calls, operator chains). */
export const MAX_FILTER_DEPTH = 128;
/** Largest `TOP n` accepted (the reference parses it as a 32-bit integer). */
export const MAX_TOP = 2_147_483_647;

const MEASUREMENT_KEY = /^[a-zA-Z0-9\-!_.@#$]+:[0-9]+$/;
const FILTER_START = /^FILTER(?![a-zA-Z0-9_])/i;

/** Function names of the grammar (upper case). */
export const FUNCTION_NAMES = new Set([
  "ABS",
  "CEILING",
  "COALESCE",
  "CONVERT",
  "CONTAINS",
  "DATEADD",
  "DATEDIFF",
  "DATEPART",
  "ENDSWITH",
  "FLOOR",
  "IIF",
  "INDEXOF",
  "ISDATE",
  "ISINTEGER",
  "ISGUID",
  "ISNULL",
  "ISNUMERIC",
  "LASTINDEXOF",
  "LEN",
  "LOWER",
  "MAXOF",
  "MINOF",
  "NOW",
  "NTHINDEXOF",
  "POWER",
  "REGEXMATCH",
  "ISREGEXMATCH",
  "REGEXVAL",
  "REPLACE",
  "REVERSE",
  "ROUND",
  "SPLIT",
  "SQRT",
  "STARTSWITH",
  "STRCOUNT",
  "STRCMP",
  "SUBSTR",
  "TRIM",
  "TRIMLEFT",
  "TRIMRIGHT",
  "UPPER",
  "UTCNOW",
]);

// Keywords that cannot be column names (a column spelled like one must be quoted: `[Order]`).
const RESERVED = new Set([
  "AND",
  "ASC",
  "BINARY",
  "BY",
  "DESC",
  "FILTER",
  "IN",
  "IS",
  "LIKE",
  "NOT",
  "NULL",
  "OR",
  "ORDER",
  "TOP",
  "WHERE",
  "XOR",
  "TRUE",
  "FALSE",
]);

function checkLength(expression: string): void {
  if (expression.length > MAX_FILTER_EXPRESSION_LENGTH)
    throw filterError(
      `Filter expression of ${expression.length} characters exceeds the limit of ${MAX_FILTER_EXPRESSION_LENGTH}`,
      MAX_FILTER_EXPRESSION_LENGTH,
    );
}

/**
 * Splits the expression at `;` outside quotes, brackets and comments; returns each statement with its
 * offset.
 */
export function splitStatements(expression: string): { text: string; position: number }[] {
  const parts: { text: string; position: number }[] = [];
  let start = 0;
  let i = 0;
  const n = expression.length;
  const isFilter = (from: number) => FILTER_START.test(expression.slice(from, from + 64).trimStart());
  let filter = isFilter(0);
  while (i < n) {
    const c = expression[i];
    let close: string | undefined;
    // Outside FILTER statements, quotes, brackets and comments open only at the start of a token:
    // inside a word they belong to a point tag (`O'HARE:VA`, `BUS[1]`, `A--B`), and splitting on `;`
    // must not swallow the statements that follow.
    const inWord = !filter && i > 0 && /[A-Za-z0-9_:.\-!@#$]/.test(expression[i - 1] as string);
    if (inWord) close = undefined;
    else if (c === "'") close = "'";
    else if (c === '"') close = '"';
    else if (c === "[") close = "]";
    else if (c === "`") close = "`";
    else if (c === "-" && expression[i + 1] === "-") close = "\n";
    else if (c === "/" && expression[i + 1] === "*") close = "*/";
    if (close !== undefined) {
      const end = expression.indexOf(close, i + (close === "*/" ? 2 : 1));
      if (end >= 0 || close === "\n" || close === "*/") {
        // A comment may run to the end; an unterminated quote does not swallow later statements (the
        // lexer reports it if it is in an expression).
        i = end < 0 ? n : end + close.length;
        continue;
      }
    }
    if (c === ";") {
      parts.push({ text: expression.slice(start, i), position: start });
      start = i + 1;
      filter = isFilter(start);
    }
    i++;
  }
  parts.push({ text: expression.slice(start), position: start });
  return parts;
}

/**
 * Parses a whole filter expression into statements. Statements that are a single term (a GUID, a
 * measurement key, a point tag, quoted or not) are identifier statements, as before FILTER support;
 * `FILTER …` statements and other multi-token statements are parsed with the grammar.
 */
export function parseFilterExpression(expression: string): Statement[] {
  checkLength(expression);
  const statements: Statement[] = [];
  for (const part of splitStatements(expression)) {
    const leading = part.text.length - part.text.trimStart().length;
    const text = part.text.trim();
    if (text.length === 0) continue;
    const position = part.position + leading;
    if (FILTER_START.test(text)) {
      statements.push(parseFilterStatement(text, position));
      continue;
    }
    const term = identifierTerm(text);
    if (term !== undefined) {
      statements.push({ kind: "identifier", text: term, position });
      continue;
    }
    const parser = new Parser(tokenize(text, position));
    const where = parser.expression();
    parser.expectEnd();
    statements.push({ kind: "expression", where, position });
  }
  return statements;
}

/**
 * The identifier a single-term statement names, or `undefined` for anything that needs the grammar.
 * Accepts GUIDs (bare, `{…}`, `'…'`), measurement keys, `"point tag"`, `'point tag'` and any other
 * whitespace-free term (a point tag, as before FILTER support).
 */
function identifierTerm(text: string): string | undefined {
  const quoted = /^'([^']*)'$/.exec(text) ?? /^"([^"]*)"$/.exec(text) ?? /^\{([^{}]*)\}$/.exec(text);
  if (quoted) return quoted[1] as string;
  if (isGuidText(text) || MEASUREMENT_KEY.test(text)) return text;
  // A single term without whitespace is a point tag (tags such as `SHELBY-BUS1:VH`, `TAG:PPA1` or
  // `O'HARE` contain operator characters), unless it opens with a parenthesis or holds a string
  // literal after an operator (`SignalType='FREQ'`), which only an expression does.
  if (!/\s/.test(text) && !text.startsWith("(") && !/(^|[=<>!(,+\-*/%&|^~])'/.test(text)) return text;
  return undefined;
}

function parseFilterStatement(text: string, position: number): Statement {
  const parser = new Parser(tokenize(text, position));
  parser.keyword("FILTER");
  let top: number | undefined;
  if (parser.acceptKeyword("TOP")) {
    let sign = 1;
    if (parser.acceptOp("-")) sign = -1;
    else parser.acceptOp("+");
    const token = parser.next();
    if (token.kind !== "int") throw filterError("Expected an integer after TOP", token.position);
    const value = Number(token.text);
    if (!Number.isSafeInteger(value) || value > MAX_TOP)
      throw filterError(`TOP limit ${token.text} exceeds ${MAX_TOP}`, token.position);
    top = sign * value;
  }
  const table = parser.identifier("table name");
  parser.keyword("WHERE");
  const where = parser.expression();
  const orderBy: OrderByTerm[] = [];
  if (parser.acceptKeyword("ORDER")) {
    parser.keyword("BY");
    do {
      const exact = parser.acceptKeyword("BINARY") || parser.acceptOp("===");
      const column = parser.identifier("column name");
      const descending = parser.acceptKeyword("DESC");
      if (!descending) parser.acceptKeyword("ASC");
      orderBy.push({ column, descending, exact });
    } while (parser.acceptOp(","));
  }
  parser.expectEnd();
  return { kind: "filter", top, table, where, orderBy, position };
}

/** Parses one expression (no statements), e.g. a WHERE clause on its own. */
export function parseExpression(text: string): Expr {
  checkLength(text);
  const parser = new Parser(tokenize(text));
  const expr = parser.expression();
  parser.expectEnd();
  return expr;
}

const COMPARISONS: Record<string, BinaryOperator> = {
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">=",
};
const EQUALITIES: Record<string, BinaryOperator> = {
  "=": "=",
  "==": "=",
  "===": "===",
  "!=": "<>",
  "<>": "<>",
  "!==": "!==",
};
const BITWISE: Record<string, BinaryOperator> = { "<<": "<<", ">>": ">>", "&": "&", "|": "|", "^": "^" };
const ADDITIVE: Record<string, BinaryOperator> = { "+": "+", "-": "-" };
const MULTIPLICATIVE: Record<string, BinaryOperator> = { "*": "*", "/": "/", "%": "%" };

class Parser {
  #tokens: Token[];
  #index = 0;
  #depth = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  peek(offset = 0): Token {
    return (this.#tokens[this.#index + offset] ?? this.#tokens[this.#tokens.length - 1]) as Token;
  }

  next(): Token {
    const token = this.peek();
    if (token.kind !== "eof") this.#index++;
    return token;
  }

  #isKeyword(token: Token, keyword: string): boolean {
    return token.kind === "ident" && token.keyword === keyword;
  }

  acceptKeyword(keyword: string): boolean {
    if (!this.#isKeyword(this.peek(), keyword)) return false;
    this.#index++;
    return true;
  }

  keyword(keyword: string): void {
    const token = this.peek();
    if (!this.acceptKeyword(keyword))
      throw filterError(`Expected ${keyword} but found ${describe(token)}`, token.position);
  }

  acceptOp(op: string): boolean {
    const token = this.peek();
    if (token.kind !== "op" || token.text !== op) return false;
    this.#index++;
    return true;
  }

  expectOp(op: string): void {
    const token = this.peek();
    if (!this.acceptOp(op))
      throw filterError(`Expected '${op}' but found ${describe(token)}`, token.position);
  }

  identifier(what: string): string {
    const token = this.next();
    if (token.kind !== "ident" || RESERVED.has(token.keyword))
      throw filterError(`Expected a ${what} but found ${describe(token)}`, token.position);
    return token.text;
  }

  expectEnd(): void {
    const token = this.peek();
    if (token.kind !== "eof") throw filterError(`Unexpected ${describe(token)}`, token.position);
  }

  #enter(position: number): void {
    if (++this.#depth > MAX_FILTER_DEPTH)
      throw filterError(`Expression nested deeper than ${MAX_FILTER_DEPTH} levels`, position);
  }

  /** Left-associative chain of one precedence level; each extra operand counts as a level of depth. */
  #chain(operators: Record<string, BinaryOperator>, operand: () => Expr, keywordXor = false): Expr {
    let left = operand();
    let levels = 0;
    for (;;) {
      const token = this.peek();
      let op: BinaryOperator | undefined;
      if (token.kind === "op") op = operators[token.text];
      else if (keywordXor && token.kind === "ident" && token.keyword === "XOR") op = "^";
      if (op === undefined) break;
      this.#index++;
      this.#enter(token.position);
      levels++;
      left = { kind: "binary", op, left, right: operand() };
    }
    this.#depth -= levels;
    return left;
  }

  expression(): Expr {
    return this.#logical("or", "OR", "||", () => this.#logical("and", "AND", "&&", () => this.#not()));
  }

  #logical(op: "and" | "or", keyword: string, symbol: string, operand: () => Expr): Expr {
    const operands = [operand()];
    for (;;) {
      const token = this.peek();
      if (this.#isKeyword(token, keyword) || (token.kind === "op" && token.text === symbol)) {
        this.#index++;
        operands.push(operand());
        continue;
      }
      break;
    }
    return operands.length === 1 ? (operands[0] as Expr) : { kind: "logical", op, operands };
  }

  #not(): Expr {
    const token = this.peek();
    if (this.#isKeyword(token, "NOT") || (token.kind === "op" && token.text === "!")) {
      this.#index++;
      this.#enter(token.position);
      const operand = this.#not();
      this.#depth--;
      return { kind: "not", operand };
    }
    return this.#predicate();
  }

  #predicate(): Expr {
    let left = this.#equality();
    let levels = 0;
    for (;;) {
      const token = this.peek();
      const negated =
        (this.#isKeyword(token, "NOT") || (token.kind === "op" && token.text === "!")) &&
        (this.#isKeyword(this.peek(1), "IN") || this.#isKeyword(this.peek(1), "LIKE"));
      const at = negated ? this.peek(1) : token;
      if (this.#isKeyword(at, "IS")) {
        this.#index++;
        const not = this.acceptKeyword("NOT") || this.acceptOp("!");
        this.keyword("NULL");
        this.#enter(at.position);
        levels++;
        left = { kind: "isNull", negated: not, operand: left };
        continue;
      }
      if (this.#isKeyword(at, "IN")) {
        this.#index += negated ? 2 : 1;
        const exact = this.acceptKeyword("BINARY") || this.acceptOp("===");
        this.#enter(at.position);
        levels++;
        this.expectOp("(");
        const list = [this.expression()];
        while (this.acceptOp(",")) list.push(this.expression());
        this.expectOp(")");
        left = { kind: "in", negated, exact, operand: left, list };
        continue;
      }
      if (this.#isKeyword(at, "LIKE")) {
        this.#index += negated ? 2 : 1;
        const exact = this.acceptKeyword("BINARY") || this.acceptOp("===");
        this.#enter(at.position);
        levels++;
        left = { kind: "like", negated, exact, operand: left, pattern: this.#equality() };
        continue;
      }
      break;
    }
    this.#depth -= levels;
    return left;
  }

  #equality(): Expr {
    return this.#chain(EQUALITIES, () => this.#relational());
  }

  #relational(): Expr {
    return this.#chain(COMPARISONS, () => this.#bitwise());
  }

  #bitwise(): Expr {
    return this.#chain(BITWISE, () => this.#additive(), true);
  }

  #additive(): Expr {
    return this.#chain(ADDITIVE, () => this.#multiplicative());
  }

  #multiplicative(): Expr {
    return this.#chain(MULTIPLICATIVE, () => this.#unary());
  }

  #unary(): Expr {
    const token = this.peek();
    let op: "-" | "+" | "~" | "!" | undefined;
    if (
      token.kind === "op" &&
      (token.text === "-" || token.text === "+" || token.text === "~" || token.text === "!")
    )
      op = token.text;
    else if (this.#isKeyword(token, "NOT")) op = "!";
    if (op === undefined) return this.#primary();
    this.#index++;
    this.#enter(token.position);
    const operand = this.#unary();
    this.#depth--;
    return { kind: "unary", op, operand };
  }

  #primary(): Expr {
    const token = this.next();
    switch (token.kind) {
      case "int": {
        const value = Number(token.text);
        return literal(Number.isSafeInteger(value) ? { type: "int", value } : { type: "num", value });
      }
      case "num":
        return literal({ type: "num", value: Number(token.text) });
      case "str":
        return literal({ type: "str", value: token.text });
      case "guid":
        return literal({ type: "guid", value: token.text });
      case "date": {
        const value = Date.parse(token.text.trim());
        if (Number.isNaN(value))
          throw filterError(`Invalid date-time literal #${token.text}#`, token.position);
        return literal({ type: "date", value });
      }
      case "op":
        if (token.text === "(") {
          this.#enter(token.position);
          const inner = this.expression();
          this.expectOp(")");
          this.#depth--;
          return inner;
        }
        break;
      case "ident": {
        if (token.keyword === "TRUE" || token.keyword === "FALSE")
          return literal({ type: "bool", value: token.keyword === "TRUE" });
        if (token.keyword === "NULL") return literal({ type: "null" });
        if (FUNCTION_NAMES.has(token.keyword) && this.peek().kind === "op" && this.peek().text === "(") {
          this.#index++;
          this.#enter(token.position);
          const args: Expr[] = [];
          if (!this.acceptOp(")")) {
            do args.push(this.expression());
            while (this.acceptOp(","));
            this.expectOp(")");
          }
          this.#depth--;
          return { kind: "call", name: token.keyword, args };
        }
        if (RESERVED.has(token.keyword)) break;
        return { kind: "column", name: token.text };
      }
      default:
        break;
    }
    throw filterError(`Unexpected ${describe(token)}`, token.position);
  }
}

function literal(value: Literal): Expr {
  return { kind: "literal", value };
}

function describe(token: Token): string {
  if (token.kind === "eof") return "end of expression";
  if (token.kind === "str") return `string '${token.text.slice(0, 40)}'`;
  return `'${token.text.slice(0, 40)}'`;
}
