// Per wall tile (tests/web/test_board_pages.py): the name's font size, whether name and count stay
// inside the tile and apart, whether the name is cut, whether the tile is on screen.
() => [...document.querySelectorAll(".tile")].map((tile) => {
  const t = tile.getBoundingClientRect();
  const n = tile.querySelector(".tile-name").getBoundingClientRect();
  const f = tile.querySelector(".tile-count").getBoundingClientRect();
  const count = tile.querySelector(".tile-count").textContent;
  const name = tile.querySelector(".tile-name");
  return {
    code: tile.dataset.code,
    font: parseFloat(getComputedStyle(tile.querySelector(".tile-name")).fontSize),
    inside: n.left >= t.left - 0.5 && n.right <= t.right + 0.5 && n.bottom <= t.bottom + 0.5 && f.bottom <= t.bottom + 0.5,
    apart: !count || n.right <= f.left + 1,
    unclipped: name.scrollHeight <= name.clientHeight + 1 && name.scrollWidth <= name.clientWidth + 1,
    onScreen: t.bottom <= innerHeight && t.right <= innerWidth,
  };
})
