// A transfer reports progress for every chunk, hundreds of times a second; redrawing the bar
// each time was a third of a second of the page's main thread in a profile of a 50 MiB push
// (bench/README.md, "Bulk transfer"). The gate passes the first report and the last (bytes =
// total) at once, and otherwise at most one report every `everyMs`, always the latest.

export interface Progress {
  bytes: number;
  total: number;
}

export class ProgressGate {
  #pending: Progress | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #shown = false;
  readonly #show: (progress: Progress) => void;
  readonly #everyMs: number;

  constructor(show: (progress: Progress) => void, everyMs = 100) {
    this.#show = show;
    this.#everyMs = everyMs;
  }

  /** Reports `bytes` of `total` moved. */
  moved(bytes: number, total: number): void {
    this.#pending = { bytes, total };
    if (!this.#shown || bytes >= total) return this.flush();
    this.#timer ??= setTimeout(() => this.flush(), this.#everyMs);
  }

  /** Shows the latest report now, if one is waiting (when the transfer settles). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = this.#pending;
    this.#pending = undefined;
    if (!pending) return;
    this.#shown = true;
    this.#show(pending);
  }
}
