// Secret values out of every text the action writes (logs, outputs, the summary). A Redactor is
// made once from the inputs and handed to whatever prints: there is no module-level list to fill.

export class Redactor {
  private readonly values: string[];

  constructor(values: string[] = []) {
    // longest first, so that a secret holding another one is replaced whole
    this.values = [...new Set(values.filter((v) => v.length > 0))].sort((a, b) => b.length - a.length);
  }

  /** The text with every secret value replaced by "***". */
  text(s: string): string {
    let out = s;
    for (const v of this.values) out = out.split(v).join('***');
    return out;
  }
}

/** For texts printed before the inputs are known (nothing to hide yet). */
export const NO_SECRETS = new Redactor();
