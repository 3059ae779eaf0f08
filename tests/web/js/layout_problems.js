// Layout problems of the page (tests/web/test_board_pages.py): elements off-screen across, content cut by
// its own overflow, a page wider than the viewport. A deliberate ellipsis in a queue cell (its full text
// is the row's tooltip) and visually-hidden text do not count.
() => {
  const problems = [];
  const visuallyHidden = (el) => {
    for (let n = el; n; n = n.parentElement) if (getComputedStyle(n).clip.startsWith("rect")) return true;
    return false;
  };
  const vw = document.documentElement.clientWidth;
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${[...el.classList].join(".")} "${(el.textContent || "").trim().slice(0, 30)}"`;
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".sr-only") || el.closest("dialog:not([open])") || el.closest("[hidden]")) continue;
    if (visuallyHidden(el)) continue;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden") continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -1 || r.right > vw + 1) problems.push(`off-screen ${Math.round(r.left)}..${Math.round(r.right)} of ${vw}: ${name(el)}`);
    if (cs.textOverflow === "ellipsis" && el.title !== undefined && el.tagName === "TD") continue;
    const clipsX = ["hidden", "clip"].includes(cs.overflowX);
    const clipsY = ["hidden", "clip"].includes(cs.overflowY);
    if (clipsX && el.scrollWidth > el.clientWidth + 1) problems.push(`clipped across: ${name(el)}`);
    if (clipsY && el.scrollHeight > el.clientHeight + 1 && el.id !== "ticker" && !el.classList.contains("ticker-box")) problems.push(`clipped down: ${name(el)}`);
  }
  if (document.documentElement.scrollWidth > vw + 1) problems.push(`page ${document.documentElement.scrollWidth} px wide in ${vw}`);
  return problems;
}
