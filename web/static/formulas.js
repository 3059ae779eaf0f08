// What each rate on the board is made of, for the hover text (title) beside the figure.
// The two QĐ 766 rates have different denominators: the on-time rate counts only what was
// resolved; the late rate counts everything received or carried over. Shown with the
// numbers of the window, so "on-time 93.3 % beside late 0.1 %" explains itself.

import { fmtInt, fmtPct } from "./format.js";
import { lang } from "./i18n.js";

const TEXT = {
  vi: {
    on_time: (d) =>
      `Tỉ lệ đúng hạn (QĐ 766) = đúng hạn hoặc trước hạn ÷ đã giải quyết = ${fmtInt(d.resolved_on_time)} ÷ ${fmtInt(d.resolved)} = ${fmtPct(d.on_time_rate)}`,
    late: (d, overdue) =>
      `Tỉ lệ trễ hạn (QĐ 766) = (trễ hạn còn tồn + đã giải quyết trễ hạn) ÷ (tiếp nhận + tồn kỳ trước) = (${fmtInt(overdue)} + ${fmtInt(d.resolved_late)}) ÷ (${fmtInt(d.received)} + ${fmtInt(d.carried_over)}) = ${fmtPct(d.late_rate)}`,
  },
  en: {
    on_time: (d) =>
      `On-time rate (QĐ 766) = resolved on time or early ÷ resolved = ${fmtInt(d.resolved_on_time)} ÷ ${fmtInt(d.resolved)} = ${fmtPct(d.on_time_rate)}`,
    late: (d, overdue) =>
      `Late rate (QĐ 766) = (late still open + resolved late) ÷ (received + carried over) = (${fmtInt(overdue)} + ${fmtInt(d.resolved_late)}) ÷ (${fmtInt(d.received)} + ${fmtInt(d.carried_over)}) = ${fmtPct(d.late_rate)}`,
  },
};

/**
 * Hover texts of the two rates of a window summary.
 * @param {object} day the window summary (counters, on_time_rate, late_rate, carried_over)
 * @param {object} gauges the node's gauges (overdue = late still open)
 * @returns {{on_time: string, late: string}}
 */
export function rateTitles(day, gauges) {
  const text = TEXT[lang()] ?? TEXT.vi;
  const d = day ?? {};
  return { on_time: text.on_time(d), late: text.late(d, gauges?.overdue ?? 0) };
}
