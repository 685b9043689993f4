import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CronError, parseCronSchedule } from "../../src/sandbox/kube/cron.js";

/** CronJob schedules as kube-controller-manager reads them (robfig/cron's standard parser). */

const at = (iso: string) => Date.parse(iso);
const next = (spec: string, after: string, timeZone?: string) => {
  const t = parseCronSchedule(spec, timeZone).next(at(after));
  return t === undefined ? undefined : new Date(t).toISOString();
};

describe("cron schedules", () => {
  it("finds the next minute each field allows: steps, ranges, lists, names, descriptors", () => {
    assert.equal(next("*/15 * * * *", "2024-03-10T10:07:30Z"), "2024-03-10T10:15:00.000Z");
    assert.equal(next("*/15 * * * *", "2024-03-10T10:15:00Z"), "2024-03-10T10:30:00.000Z", "strictly after");
    assert.equal(next("0 9-17/4 * * *", "2024-03-10T14:00:00Z"), "2024-03-10T17:00:00.000Z");
    assert.equal(next("30 2 * * mon,WED", "2024-03-10T00:00:00Z"), "2024-03-11T02:30:00.000Z");
    assert.equal(next("0 0 1 jan *", "2024-03-10T00:00:00Z"), "2025-01-01T00:00:00.000Z");
    assert.equal(next("@hourly", "2024-03-10T10:07:00Z"), "2024-03-10T11:00:00.000Z");
    assert.equal(next("@yearly", "2024-12-31T23:59:00Z"), "2025-01-01T00:00:00.000Z");
    assert.equal(next("5/20 * * * *", "2024-03-10T10:26:00Z"), "2024-03-10T10:45:00.000Z", "N/step means N-max/step");
    assert.equal(next("@every 90s", "2024-03-10T10:00:00Z"), "2024-03-10T10:01:30.000Z");
  });

  it("matches either day field when both are restricted, both when one is a star", () => {
    // The 13th, or any Friday.
    assert.equal(next("0 0 13 * 5", "2024-09-01T00:00:00Z"), "2024-09-06T00:00:00.000Z");
    assert.equal(next("0 0 13 * *", "2024-09-01T00:00:00Z"), "2024-09-13T00:00:00.000Z");
    assert.equal(next("0 0 30 2 *", "2024-01-01T00:00:00Z"), undefined, "a day that never comes");
  });

  it("reads wall-clock time in the CronJob's time zone", () => {
    assert.equal(next("0 9 * * *", "2024-07-01T00:00:00Z", "Europe/Paris"), "2024-07-01T07:00:00.000Z");
    assert.equal(next("0 9 * * *", "2024-01-15T00:00:00Z", "Europe/Paris"), "2024-01-15T08:00:00.000Z");
  });

  it("refuses what the parser refuses, with its words", () => {
    const refused = (spec: string) => {
      try {
        parseCronSchedule(spec);
      } catch (err) {
        assert.ok(err instanceof CronError);
        return err.message;
      }
      throw new Error(`${spec} parsed`);
    };
    assert.equal(refused("every minute"), "expected exactly 5 fields, found 2: [every minute]");
    assert.equal(refused("61 * * * *"), "end of range (61) above maximum (59): 61");
    assert.equal(refused("* * 0 * *"), "beginning of range (0) below minimum (1): 0");
    assert.equal(refused("x * * * *"), 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax');
    assert.equal(refused("@fortnightly"), "unrecognized descriptor: @fortnightly");
  });
});
