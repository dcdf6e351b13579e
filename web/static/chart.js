// Optional hover detail for the server-drawn charts: shows the <title> of
// the hovered or focused dot or bar in the line under the chart. Pages
// work without it (the titles are also native tooltips).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("svg.chart-svg[data-detail]").forEach(function (svg) {
    var out = document.getElementById(svg.getAttribute("data-detail"));
    if (!out) return;
    var show = function (ev) {
      var t = ev.target.querySelector && ev.target.querySelector("title");
      if (t && ev.target !== svg) out.textContent = t.textContent;
    };
    svg.addEventListener("mouseover", show);
    svg.addEventListener("focusin", show);
  });
});
