/**
 * Caps the work one analysis may do. Pathological input (generated files,
 * deep nesting, recursion between helpers) must degrade to silence, never to
 * a hang: once a cap is hit the affected code is skipped and the reason is
 * kept for the log.
 */
export class BudgetExceeded extends Error {}

export class AnalysisBudget {
  private ticks = 0;
  private readonly deadline: number;
  readonly notes: string[] = [];

  constructor(
    readonly timeLimitMs = 2000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.deadline = now() + timeLimitMs;
  }

  /** Called once per unit of work; checks the clock every 1,024 ticks to keep it cheap. */
  tick(): void {
    if ((++this.ticks & 1023) === 0 && this.now() > this.deadline) {
      throw new BudgetExceeded(`analysis took longer than ${this.timeLimitMs} ms`);
    }
  }

  /** Records that a depth cap cut some code out of the analysis. */
  exceeded(reason: string): void {
    if (!this.notes.includes(reason)) this.notes.push(reason);
  }
}
