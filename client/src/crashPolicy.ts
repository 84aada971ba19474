/**
 * What to do when the language server dies. The default policy of
 * vscode-languageclient shows a notification per crash; a crash loop then
 * buries the user in messages. Here the user hears once that the server was
 * restarted, and once more only if it is given up on.
 *
 * Kept free of the `vscode` module so that it can be unit-tested.
 */
export interface CrashDecision {
  restart: boolean;
  /** A message to show, or undefined to stay quiet. */
  notify?: string;
}

export class CrashPolicy {
  private crashes: number[] = [];
  private toldRestart = false;

  constructor(
    private readonly maxCrashes = 5,
    private readonly windowMs = 3 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  onServerClosed(): CrashDecision {
    const t = this.now();
    this.crashes = this.crashes.filter((c) => t - c < this.windowMs).concat(t);
    if (this.crashes.length >= this.maxCrashes) {
      return {
        restart: false,
        notify: `FreezeLens: the language server crashed ${this.crashes.length} times in ${Math.round(this.windowMs / 60_000)} minutes and was stopped. The log is in Output › FreezeLens; run "FreezeLens: Restart Server" to try again.`,
      };
    }
    if (this.toldRestart) return { restart: true };
    this.toldRestart = true;
    return { restart: true, notify: 'FreezeLens: the language server stopped unexpectedly and was restarted. The log is in Output › FreezeLens.' };
  }

  /** After a manual restart the user is told again about the next crash. */
  reset(): void {
    this.crashes = [];
    this.toldRestart = false;
  }
}
