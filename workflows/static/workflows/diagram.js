// The process chart is wider than a phone and scrolls sideways in its box: open it at the
// current step (or the last one done), not at the start.
(function () {
  "use strict";
  var box = document.querySelector(".diagram-scroll");
  if (!box || box.scrollWidth <= box.clientWidth) { return; }
  var nodes = box.querySelectorAll("g[data-state=current]");
  if (!nodes.length) { nodes = box.querySelectorAll("g[data-state=done]"); }
  if (!nodes.length) { return; }
  var node = nodes[nodes.length - 1].getBoundingClientRect();
  var frame = box.getBoundingClientRect();
  box.scrollLeft += node.left + node.width / 2 - (frame.left + frame.width / 2);
})();
