// The queue's "select all on this page" box.
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (!all) { return; }
  all.addEventListener("change", function () {
    document.querySelectorAll("#task-list input.pick").forEach(function (box) { box.checked = all.checked; });
  });
})();
