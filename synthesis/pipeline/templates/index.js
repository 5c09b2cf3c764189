/* reports/index.html: sort and filter the toolkit table in the browser (no server, no external files).
   Without JavaScript the whole table is shown as published. */
(function () {
  "use strict";
  var table = document.getElementById("toolkit");
  var controls = document.getElementById("controls");
  if (!table || !controls) { return; }
  document.documentElement.className += " js";
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var text = document.getElementById("filter-text");
  var level = document.getElementById("filter-certainty");
  var sortBy = document.getElementById("sort-by");
  var shown = document.getElementById("shown");
  controls.hidden = false;

  function filter() {
    var query = text.value.trim().toLowerCase();
    var wanted = level.value;
    var count = 0;
    rows.forEach(function (row) {
      var match = (!query || row.textContent.toLowerCase().indexOf(query) !== -1) &&
        (!wanted || row.getAttribute("data-level") === wanted);
      row.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " reviews shown";
  }

  function sort(key, direction) {
    var head = null;
    heads.forEach(function (th) {
      th.removeAttribute("aria-sort");
      if (th.getAttribute("data-key") === key) { head = th; }
    });
    if (!head) { return; }
    head.setAttribute("aria-sort", direction);
    var numeric = head.getAttribute("data-type") === "number";
    var sign = direction === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = a.getAttribute("data-" + key) || "";
      var y = b.getAttribute("data-" + key) || "";
      if (x === "" || y === "") { return (x === "") - (y === ""); }  /* unknown values last */
      if (numeric) { return sign * (parseFloat(x) - parseFloat(y)); }
      return sign * x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
    });
    rows.forEach(function (row) { body.appendChild(row); });
    var value = key + ":" + direction;
    var known = Array.prototype.some.call(sortBy.options, function (o) { return o.value === value; });
    sortBy.value = known ? value : "";
  }

  heads.forEach(function (th) {
    var key = th.getAttribute("data-key");
    if (!key) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    button.title = "Sort by " + th.textContent.toLowerCase();
    th.textContent = "";
    th.appendChild(button);
    button.addEventListener("click", function () {
      var first = th.getAttribute("data-type") === "number" ? "descending" : "ascending";
      var current = th.getAttribute("aria-sort");
      sort(key, current === first ? (first === "ascending" ? "descending" : "ascending") : first);
    });
  });
  text.addEventListener("input", filter);
  level.addEventListener("change", filter);
  sortBy.addEventListener("change", function () {
    var parts = sortBy.value.split(":");
    if (parts.length === 2) { sort(parts[0], parts[1]); }
  });
  filter();
}());
