/**
 * Runs parsed filter statements against tables of rows: identifier statements look rows up by signal
 * ID, measurement key or point tag; FILTER and bare-expression statements select the rows whose WHERE
 * clause is TRUE, sorted by ORDER BY and cut to TOP n.
 */
import type { Statement } from "./ast.js";
import { compareValues, evaluate, type FilterTable, resetEvaluationBudget, type Value } from "./evaluate.js";
import { canonicalGuid, filterError, isGuidText } from "./lexer.js";

/** Rows a whole filter expression selected, and the identifier terms that matched nothing. */
export interface SelectResult<R> {
  readonly matched: R[];
  readonly unmatched: string[];
}

export interface SelectSource<R> {
  /** Tables by upper-cased name; the first is the primary table (used by identifiers and bare expressions). */
  readonly tables: ReadonlyMap<string, FilterTable>;
  readonly primary: string;
  /** The caller's object for a table row (same index as `FilterTable.rows`). */
  readonly item: (table: FilterTable, index: number) => R;
  /** Finds the row index an identifier term names in the primary table, or -1. */
  readonly lookup: (term: string) => number;
}

/**
 * Evaluates statements as the reference does: identifier statements contribute their rows first, in
 * order; then each FILTER / expression statement in order; duplicates are dropped (first occurrence
 * wins). Any evaluation error fails the whole expression.
 */
export function selectRows<R>(statements: readonly Statement[], source: SelectSource<R>): SelectResult<R> {
  const seen = new Set<R>();
  const matched: R[] = [];
  const unmatched: string[] = [];
  const add = (item: R) => {
    if (!seen.has(item)) {
      seen.add(item);
      matched.push(item);
    }
  };
  resetEvaluationBudget();
  const primary = source.tables.get(source.primary.toUpperCase());
  for (const statement of statements) {
    if (statement.kind !== "identifier") continue;
    const index = primary ? source.lookup(statement.text) : -1;
    if (index < 0 || !primary) unmatched.push(statement.text);
    else add(source.item(primary, index));
  }
  for (const statement of statements) {
    if (statement.kind === "identifier") continue;
    const tableName = statement.kind === "filter" ? statement.table : source.primary;
    const table = source.tables.get(tableName.toUpperCase());
    if (!table) throw filterError(`Unknown table "${tableName}"`, statement.position);
    const orderBy = statement.kind === "filter" ? statement.orderBy : [];
    for (const term of orderBy) {
      if (!table.columns.has(term.column.toUpperCase()))
        throw filterError(
          `Unknown ORDER BY column "${term.column}" in table "${table.name}"`,
          statement.position,
        );
    }
    let indexes: number[] = [];
    for (let i = 0; i < table.rows.length; i++) {
      const result = evaluate(statement.where, table.rows[i] as ReadonlyMap<string, Value>);
      if (result.type === "bool" && result.value) indexes.push(i);
    }
    if (orderBy.length > 0) {
      const keys = orderBy.map((t) => t.column.toUpperCase());
      // Array.prototype.sort is stable: ties keep table order. NULL sorts first ascending.
      indexes.sort((a, b) => {
        for (let k = 0; k < orderBy.length; k++) {
          const term = orderBy[k] as (typeof orderBy)[number];
          const x = table.rows[a]?.get(keys[k] as string) ?? { type: "null" };
          const y = table.rows[b]?.get(keys[k] as string) ?? { type: "null" };
          let c: number;
          if (x.type === "null" || y.type === "null")
            c = (x.type === "null" ? 0 : 1) - (y.type === "null" ? 0 : 1);
          else c = compareValues(x, y, term.exact);
          if (c !== 0) return term.descending ? -c : c;
        }
        return 0;
      });
    }
    // TOP n after sorting; a negative limit means no limit (the reference's reading of `TOP -1`).
    const top = statement.kind === "filter" ? statement.top : undefined;
    if (top !== undefined && top >= 0) indexes = indexes.slice(0, top);
    for (const i of indexes) add(source.item(table, i));
  }
  return { matched, unmatched };
}

/** True when `term` is a GUID in any accepted spelling; returns its canonical form. */
export function guidTerm(term: string): string | undefined {
  const bare = term.replace(/^\{(.*)\}$/, "$1");
  return isGuidText(bare) ? canonicalGuid(bare) : undefined;
}
