/**
 * Orbax's async-checkpointer contract: `save()` returns once the inputs are captured, the
 * write commits in the background, the next `save()` waits for the previous one, and a
 * background failure surfaces in `waitUntilFinished()`, `checkForErrors()` or the next call.
 * Node stays alive while a save is in flight (the native write holds the event loop open), so a
 * normal process exit never drops a pending save; a killed process leaves only a temporary
 * `*.orbax-checkpoint-tmp` directory, never a finished-looking checkpoint.
 */
export class BackgroundSaves {
  #inFlight: Promise<void> | null = null;
  #error: { error: unknown } | null = null;

  /** Waits for the previous save (rethrowing its error), then starts `write` in the background. */
  async start(write: () => Promise<void>): Promise<void> {
    await this.waitUntilFinished();
    const tracked: Promise<void> = write().then(
      () => undefined,
      (error: unknown) => {
        this.#error = { error };
      },
    );
    this.#inFlight = tracked;
    void tracked.finally(() => {
      if (this.#inFlight === tracked) this.#inFlight = null;
    });
  }

  /** Resolves when no save is in flight; rejects (once) with a failed background save's error. */
  async waitUntilFinished(): Promise<void> {
    while (this.#inFlight) await this.#inFlight;
    this.checkForErrors();
  }

  /** Whether a save is being written. */
  isSavingInProgress(): boolean {
    return this.#inFlight !== null;
  }

  /** Throws (once) the error of a failed background save. */
  checkForErrors(): void {
    if (this.#error) {
      const { error } = this.#error;
      this.#error = null;
      throw error;
    }
  }
}
