/** How long a lot lives: C4 says three calendar months after the start of its period. */
export const LOT_LIFETIME_MONTHS = 3;

function daysInMonthUtc(year: number, monthIndex: number): number {
  // Day 0 of the next month is the last day of this one.
  return new Date(Date.UTC(year, monthIndex + 1, 0)).getUTCDate();
}

/**
 * Adds calendar months in UTC, keeping the time of day and clamping the day to the target
 * month's end (31 Jan + 3 months = 30 Apr), as C4 requires.
 */
export function addCalendarMonthsMs(atMs: number, months: number): number {
  const at = new Date(atMs);
  const monthIndex = at.getUTCMonth() + months;
  const year = at.getUTCFullYear() + Math.floor(monthIndex / 12);
  const month = ((monthIndex % 12) + 12) % 12;
  const day = Math.min(at.getUTCDate(), daysInMonthUtc(year, month));
  return Date.UTC(
    year,
    month,
    day,
    at.getUTCHours(),
    at.getUTCMinutes(),
    at.getUTCSeconds(),
    at.getUTCMilliseconds(),
  );
}

/** When a lot granted at `grantedAtMs` expires (C4). */
export function lotExpiresAtMs(grantedAtMs: number): number {
  return addCalendarMonthsMs(grantedAtMs, LOT_LIFETIME_MONTHS);
}

export function toIso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Periods longer than this many months are not plans but mistakes; counting stops there. */
const MAX_PERIOD_MONTHS = 120;

/**
 * C20: how many calendar months a period spans, rounded to the nearest whole month and at
 * least 1: a year is 12, 1 Jan to 1 Feb is 1, 31 Jan to 28 Feb is 1, half a month rounds up.
 */
export function calendarMonthsBetween(startMs: number, endMs: number): number {
  let whole = 0;
  while (whole < MAX_PERIOD_MONTHS && addCalendarMonthsMs(startMs, whole + 1) <= endMs) whole++;
  const from = addCalendarMonthsMs(startMs, whole);
  const to = addCalendarMonthsMs(startMs, whole + 1);
  const fraction = Math.max(0, endMs - from) / (to - from);
  return Math.max(1, Math.round(whole + fraction));
}
