(function () {
  "use strict";
  var table = document.getElementById("patients");
  if (!table || !table.tBodies || table.tBodies.length === 0) { return; }
  var body = table.tBodies[0];
  var heads = table.querySelectorAll("thead th[data-sort]");
  function key(row, col, numeric) {
    var cell = row.cells[col];
    var v = cell ? cell.getAttribute("data-v") : null;
    if (v === null || v === "") { return null; }
    if (numeric) { var x = parseFloat(v); return isNaN(x) ? null : x; }
    return v.toLowerCase();
  }
  function sortBy(th, col, numeric) {
    var asc = th.getAttribute("aria-sort") !== "ascending";
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var fa = a.classList.contains("failed"), fb = b.classList.contains("failed");
      if (fa !== fb) { return fa ? 1 : -1; }
      var x = key(a, col, numeric), y = key(b, col, numeric);
      if (x === null || y === null) { return (x === null ? 1 : 0) - (y === null ? 1 : 0); }
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return asc ? c : -c;
    });
    for (var j = 0; j < rows.length; j++) { body.appendChild(rows[j]); }
  }
  for (var i = 0; i < heads.length; i++) {
    (function (th) {
      var b = document.createElement("button");
      b.type = "button";
      b.title = "sort by this column";
      while (th.firstChild) { b.appendChild(th.firstChild); }
      th.appendChild(b);
      b.addEventListener("click", function () { sortBy(th, th.cellIndex, th.getAttribute("data-sort") === "num"); });
    })(heads[i]);
  }
})();
