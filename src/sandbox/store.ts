import { existsSync, readFileSync } from "node:fs";
import { SECRET_FILE_MODE, writeFileAtomic } from "../util/files.js";

/**
 * The persisted state of one emulated service: loaded once, mutated in memory, written atomically
 * shortly after each change and on flush(). State files may hold secrets, so they are 0600.
 */
export class JsonStore<T> {
  private timer: NodeJS.Timeout | undefined;
  readonly data: T;

  constructor(private readonly path: string, initial: () => T, private readonly delayMs = 50) {
    this.data = existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as T) : initial();
    if (!existsSync(path)) this.flush();
  }

  /** Call after every mutation; writes are coalesced. */
  changed(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.delayMs);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    writeFileAtomic(this.path, JSON.stringify(this.data), SECRET_FILE_MODE);
  }
}
