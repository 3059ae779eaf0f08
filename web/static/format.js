// Number, time and name formatting. Times are shown in Asia/Ho_Chi_Minh whatever the
// browser's zone is: the city runs on local time.

import { lang, pick, t } from "./i18n.js";

const ZONE = "Asia/Ho_Chi_Minh";
const formatters = new Map();

function formatter(kind) {
  const key = `${kind}:${lang()}`;
  let value = formatters.get(key);
  if (!value) {
    const locale = lang() === "en" ? "en-GB" : "vi-VN";
    if (kind === "int") value = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
    else if (kind === "pct") value = new Intl.NumberFormat(locale, { maximumFractionDigits: 1, minimumFractionDigits: 1 });
    else if (kind === "time") value = new Intl.DateTimeFormat(locale, { timeZone: ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    else value = new Intl.DateTimeFormat("en-GB", { timeZone: ZONE, year: "numeric", day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
    formatters.set(key, value);
  }
  return value;
}

/** 12345 → "12.345" (vi) / "12,345" (en); null → "—". */
export function fmtInt(value) {
  return typeof value === "number" && Number.isFinite(value) ? formatter("int").format(value) : "—";
}

/** 0.8734 → "87,3%"; null → "—". */
export function fmtPct(rate) {
  return typeof rate === "number" && Number.isFinite(rate) ? `${formatter("pct").format(rate * 100)}%` : "—";
}

/** Epoch seconds → "14:03:22" (local time of the city). */
export function fmtTime(at) {
  return typeof at === "number" && Number.isFinite(at) ? formatter("time").format(new Date(at * 1000)) : "—";
}

/**
 * Epoch seconds → "25/11/2026 14:03", the one date format of every page in both languages
 * (day/month/year as written in Vietnam, then the 24-hour time of the city).
 */
export function fmtDateTime(at) {
  if (typeof at !== "number" || !Number.isFinite(at)) return "—";
  const parts = Object.fromEntries(formatter("datetime").formatToParts(new Date(at * 1000)).map((p) => [p.type, p.value]));
  return `${parts.day}/${parts.month}/${parts.year} ${parts.hour}:${parts.minute}`;
}

/** Seconds ago → "3 phút trước" / "3 min ago" (for "data stopped since"). */
export function fmtAgo(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const en = lang() === "en";
  if (s < 60) return en ? `${s} s ago` : `${s} giây trước`;
  if (s < 3600) return en ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 60)} phút trước`;
  return en ? `${formatter("pct").format(s / 3600)} h ago` : `${formatter("pct").format(s / 3600)} giờ trước`;
}

/** Seconds → "2 ngày 03:04:05" / "2d 03:04:05"; negative values get a minus sign. */
export function fmtDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
  const sign = seconds < 0 ? "−" : "";
  let rest = Math.floor(Math.abs(seconds));
  const days = Math.floor(rest / 86400);
  rest -= days * 86400;
  const hh = String(Math.floor(rest / 3600)).padStart(2, "0");
  const mm = String(Math.floor((rest % 3600) / 60)).padStart(2, "0");
  const ss = String(rest % 60).padStart(2, "0");
  const dayPart = days ? (lang() === "en" ? `${days}d ` : `${days} ${t("day")} `) : "";
  return `${sign}${dayPart}${hh}:${mm}:${ss}`;
}

/** Latency seconds → "3,2 giờ" style short text. */
export function fmtLatency(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
  const en = lang() === "en";
  if (seconds < 3600) return `${formatter("int").format(Math.round(seconds / 60))} ${en ? "min" : "phút"}`;
  if (seconds < 2 * 86400) return `${formatter("pct").format(seconds / 3600)} ${en ? "h" : "giờ"}`;
  return `${formatter("pct").format(seconds / 86400)} ${en ? "d" : "ngày"}`;
}

// Vietnamese prefixes only on Vietnamese names and English suffixes only on English ones:
// "Ban " is a Vietnamese word ("board"), but "Ban Co Ward" is the ward Bàn Cờ.
const PREFIXES = {
  vi: [/^Phường\s+/u, /^Xã\s+/u, /^Đặc khu\s+/u, /^Sở\s+/u, /^Ban Quản lý (các )?/u],
  en: [/\s+Ward(?=$|\s+\()/u, /\s+Commune(?=$|\s+\()/u, /\s+Special Zone(?=$|\s+\()/u, /^Department of\s+/u],
};

// Common long words of agency names, as written on Vietnamese signs.
const ABBREVIATIONS = [
  [/Ủy ban nhân dân/u, "UBND"],
  [/ Thành phố$/u, " TP."],
  [/People's Committee/u, "PC"],
];

/**
 * A unit's name without "Phường"/"Xã"/"Sở" (or "Ward"/"Commune"), for compact tiles; a
 * disambiguating "(Can Gio)" stays: "Thanh An Commune (Can Gio)" → "Thanh An (Can Gio)".
 */
export function shortName(unit) {
  let name = pick(unit, "name") || unit?.code || "";
  for (const prefix of PREFIXES[lang() === "en" ? "en" : "vi"]) name = name.replace(prefix, "");
  for (const [long, short] of ABBREVIATIONS) name = name.replace(long, short);
  return name;
}

/** Compare Redis stream ids ("ms-seq"); negative when a < b. */
export function compareIds(a, b) {
  const [am, as] = String(a).split("-").map(Number);
  const [bm, bs] = String(b).split("-").map(Number);
  return am === bm ? as - bs : am - bm;
}
