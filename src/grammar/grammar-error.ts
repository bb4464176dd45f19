// The one error a grammar compiler throws: what cannot be enforced, and where in the schema (a JSON pointer).
// Request parsers turn it into a 400 naming the schema path; it never reaches a model.

export class GrammarError extends Error {
  override name = "GrammarError";
  constructor(
    /** JSON pointer into the schema ("" for its root). */
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}
