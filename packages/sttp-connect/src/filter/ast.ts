/** Syntax tree of STTP filter expressions. */

export type Literal =
  | { readonly type: "null" }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "int"; readonly value: number }
  | { readonly type: "num"; readonly value: number }
  | { readonly type: "str"; readonly value: string }
  | { readonly type: "guid"; readonly value: string }
  | { readonly type: "date"; readonly value: number };

export type BinaryOperator =
  | "*"
  | "/"
  | "%"
  | "+"
  | "-"
  | "<<"
  | ">>"
  | "&"
  | "|"
  | "^"
  | "<"
  | "<="
  | ">"
  | ">="
  | "="
  | "==="
  | "<>"
  | "!==";

export type Expr =
  | { readonly kind: "literal"; readonly value: Literal }
  | { readonly kind: "column"; readonly name: string }
  | { readonly kind: "unary"; readonly op: "-" | "+" | "~" | "!"; readonly operand: Expr }
  | { readonly kind: "not"; readonly operand: Expr }
  | { readonly kind: "binary"; readonly op: BinaryOperator; readonly left: Expr; readonly right: Expr }
  /** n-ary so that long `a OR b OR c …` chains stay shallow. */
  | { readonly kind: "logical"; readonly op: "and" | "or"; readonly operands: readonly Expr[] }
  | { readonly kind: "isNull"; readonly negated: boolean; readonly operand: Expr }
  | {
      readonly kind: "in";
      readonly negated: boolean;
      readonly exact: boolean;
      readonly operand: Expr;
      readonly list: readonly Expr[];
    }
  | {
      readonly kind: "like";
      readonly negated: boolean;
      readonly exact: boolean;
      readonly operand: Expr;
      readonly pattern: Expr;
    }
  | { readonly kind: "call"; readonly name: string; readonly args: readonly Expr[] };

export interface OrderByTerm {
  readonly column: string;
  readonly descending: boolean;
  /** `BINARY` / `===` before the column: case-sensitive string ordering. */
  readonly exact: boolean;
}

export type Statement =
  /** A signal GUID, measurement key or point tag. */
  | { readonly kind: "identifier"; readonly text: string; readonly position: number }
  | {
      readonly kind: "filter";
      /** `undefined` without TOP; negative means no limit (as the reference). */
      readonly top: number | undefined;
      readonly table: string;
      readonly where: Expr;
      readonly orderBy: readonly OrderByTerm[];
      readonly position: number;
    }
  /** A bare expression, evaluated against the primary table (ActiveMeasurements). */
  | { readonly kind: "expression"; readonly where: Expr; readonly position: number };
