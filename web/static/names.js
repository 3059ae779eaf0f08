// Names shown for codes (units, categories), from the packaged data the web node serves as
// /catalog.json (unit catalog and SLA categories). i18n.js holds only the interface's own
// strings. Names are data: callers render them with textContent, never as HTML.

import { lang } from "./i18n.js";

let catalog = { units: {}, categories: {}, other_category: null };

const ready = fetch("/catalog.json", { credentials: "same-origin", cache: "no-cache" })
  .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
  .then((data) => {
    if (data && typeof data === "object") {
      catalog = {
        units: data.units && typeof data.units === "object" ? data.units : {},
        categories: data.categories && typeof data.categories === "object" ? data.categories : {},
        other_category: data.other_category ?? null,
      };
    }
  })
  .catch((error) => {
    // Pages still work without names: units fall back to their codes.
    console.warn("govpulse: names unavailable", error);
  });

/** Resolves once /catalog.json has been read (or failed); re-render then. */
export function namesReady() {
  return ready;
}

// Own keys only: a code such as "constructor" must not reach Object.prototype.
function entry(table, code) {
  return typeof code === "string" && Object.hasOwn(table, code) ? table[code] : null;
}

function named(found) {
  if (!found) return "";
  const value = (lang() === "en" ? found.name_en : found.name_vi) ?? found.name_vi;
  return value === null || value === undefined ? "" : String(value);
}

/**
 * The name of category `code` in the current language. A category the SLA file does not
 * list is counted under its default, and named so ("Khác" / "Other"); never the raw code.
 */
export function categoryName(code) {
  if (code === null || code === undefined || code === "") return "";
  return named(entry(catalog.categories, code) ?? catalog.other_category);
}

/** The name of unit `code` in the current language, or the code when the catalog lacks it. */
export function unitName(code) {
  return named(entry(catalog.units, code)) || String(code ?? "");
}
