/**
 * CronJob schedules as kube-controller-manager reads them (robfig/cron's ParseStandard): five fields (minute, hour,
 * day of month, month, day of week) with `*`, `?`, lists, ranges, steps and month/day names, the `@hourly`-style
 * descriptors and `@every <duration>`; day of month and day of week match either way when both are restricted.
 * Times are wall-clock times of the CronJob's time zone (UTC when it names none, as on AKS).
 */

export class CronError extends Error {}

export interface CronSchedule {
  /** The first activation strictly after `afterMs` (epoch ms), or undefined when there is none within five years. */
  next(afterMs: number): number | undefined;
}

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MONTHS: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };
const DAYS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const FIELDS: Bounds[] = [{ min: 0, max: 59 }, { min: 0, max: 23 }, { min: 1, max: 31 }, { min: 1, max: 12, names: MONTHS }, { min: 0, max: 6, names: DAYS }];

const DESCRIPTORS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/** The values a field allows, and whether it was `*` or `?` (which matters for the day fields). */
interface Field {
  values: Set<number>;
  star: boolean;
}

function number(text: string, bounds: Bounds): number {
  const named = bounds.names?.[text.toLowerCase()];
  if (named !== undefined) return named;
  if (!/^\d+$/.test(text)) throw new CronError(`failed to parse int from ${text}: strconv.Atoi: parsing ${JSON.stringify(text)}: invalid syntax`);
  return Number(text);
}

function range(expr: string, bounds: Bounds): Field {
  const [span, stepText, ...extra] = expr.split("/");
  if (extra.length) throw new CronError(`too many slashes: ${expr}`);
  const [low, high, ...more] = span.split("-");
  if (more.length) throw new CronError(`too many hyphens: ${expr}`);
  let star = false;
  let start: number;
  let end: number;
  if (low === "*" || low === "?") {
    [start, end, star] = [bounds.min, bounds.max, true];
  } else {
    start = number(low, bounds);
    end = high === undefined ? start : number(high, bounds);
  }
  let step = 1;
  if (stepText !== undefined) {
    step = number(stepText, { min: 0, max: 0 });
    // "N/step" means "N-max/step".
    if (high === undefined && !star) end = bounds.max;
    if (step > 1) star = false;
  }
  if (start < bounds.min) throw new CronError(`beginning of range (${start}) below minimum (${bounds.min}): ${expr}`);
  if (end > bounds.max) throw new CronError(`end of range (${end}) above maximum (${bounds.max}): ${expr}`);
  if (start > end) throw new CronError(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  if (step === 0) throw new CronError(`step of range should be a positive number: ${expr}`);
  const values = new Set<number>();
  for (let v = start; v <= end; v += step) values.add(v);
  return { values, star };
}

function field(text: string, bounds: Bounds): Field {
  const parts = text.split(",").map((p) => range(p, bounds));
  return { values: new Set(parts.flatMap((p) => [...p.values])), star: parts.some((p) => p.star) };
}

/** Go's time.ParseDuration for the units a schedule uses (h, m, s). */
function duration(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== text) throw new CronError(`failed to parse duration @every ${text}: time: invalid duration ${JSON.stringify(text)}`);
  const unit = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
  return parts.reduce((ms, p) => ms + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
}

/** Wall-clock fields of an instant in a time zone, as a Date whose UTC fields are those of the wall clock. */
function zone(timeZone: string | undefined): { toWall(ms: number): number; fromWall(wallMs: number): number } {
  if (!timeZone || timeZone === "UTC" || timeZone === "Etc/UTC") return { toWall: (ms) => ms, fromWall: (ms) => ms };
  const format = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
  const toWall = (ms: number) => {
    const p = Object.fromEntries(format.formatToParts(new Date(ms)).map((x) => [x.type, Number(x.value)]));
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) + (ms % 1000);
  };
  // The offset at the wall time read as UTC is right except within an hour of a DST switch, as good as we need.
  return { toWall, fromWall: (wallMs) => wallMs - (toWall(wallMs) - wallMs) };
}

/** Whether `timeZone` names a zone this runtime knows (time.LoadLocation's check). */
export function knownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

export function parseCronSchedule(spec: string, timeZone?: string): CronSchedule {
  const text = spec.trim();
  if (text.startsWith("@every ")) {
    const every = duration(text.slice("@every ".length).trim());
    if (every < 1000) throw new CronError(`failed to parse duration @every ${text.slice(7)}: delay must be at least one second`);
    return { next: (after) => Math.floor((after + every) / 1000) * 1000 };
  }
  const expanded = text.startsWith("@") ? DESCRIPTORS[text.toLowerCase()] : text;
  if (!expanded) throw new CronError(`unrecognized descriptor: ${text}`);
  const parts = expanded.split(/\s+/).filter(Boolean);
  if (parts.length !== 5) throw new CronError(`expected exactly 5 fields, found ${parts.length}: [${parts.join(" ")}]`);
  const [minute, hour, dom, month, dow] = parts.map((p, i) => field(p, FIELDS[i]));
  const clock = zone(timeZone);
  const dayMatches = (d: Date) => {
    const byDom = dom.values.has(d.getUTCDate());
    const byDow = dow.values.has(d.getUTCDay());
    return dom.star || dow.star ? byDom && byDow : byDom || byDow;
  };
  return {
    next(afterMs) {
      // Whole minutes after `afterMs`, in wall-clock time; each field moves on until it matches, resetting the
      // smaller ones, and starts over when a larger one wraps (robfig's SpecSchedule.Next).
      const t = new Date(Math.floor(clock.toWall(afterMs) / 60_000) * 60_000 + 60_000);
      const limit = t.getUTCFullYear() + 5;
      for (;;) {
        if (t.getUTCFullYear() > limit) return undefined;
        if (!month.values.has(t.getUTCMonth() + 1)) {
          t.setUTCMonth(t.getUTCMonth() + 1, 1);
          t.setUTCHours(0, 0, 0, 0);
          continue;
        }
        if (!dayMatches(t)) {
          t.setUTCDate(t.getUTCDate() + 1);
          t.setUTCHours(0, 0, 0, 0);
          continue;
        }
        if (!hour.values.has(t.getUTCHours())) {
          t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
          continue;
        }
        if (!minute.values.has(t.getUTCMinutes())) {
          t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
          continue;
        }
        return clock.fromWall(t.getTime());
      }
    },
  };
}
