/* The village cadre's pages: the amount of an application, live, from the unit amounts
   the server put in data attributes (the server computes it again and is the authority);
   more rows for household members; confirmation of irreversible steps. */
(function () {
  "use strict";

  // Money in integer cents: never floating-point yuan.
  function cents(text) {
    var m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(String(text || "").trim());
    if (!m) { return 0; }
    var frac = (m[2] || "") + "00";
    return parseInt(m[1], 10) * 100 + parseInt(frac.slice(0, 2), 10);
  }

  function yuan(c) {
    var rest = String(c % 100);
    return Math.floor(c / 100) + "." + (rest.length < 2 ? "0" + rest : rest);
  }

  document.querySelectorAll("form[data-amount]").forEach(function (form) {
    var out = form.querySelector("[data-total]");
    var warn = form.querySelector("[data-over-cap]");
    var capText = form.getAttribute("data-cap");
    var cap = capText ? cents(capText) : null;
    function update() {
      var total = 0;
      form.querySelectorAll("input[data-unit-amount]").forEach(function (input) {
        var qty = /^\d+$/.test(input.value.trim()) ? parseInt(input.value, 10) : 0;
        total += qty * cents(input.getAttribute("data-unit-amount"));
      });
      if (out) { out.textContent = yuan(total); }
      if (warn) { warn.hidden = !(cap !== null && total > cap); }
    }
    form.addEventListener("input", update);
    update();
  });

  var add = document.querySelector("[data-add-member]");
  var template = document.getElementById("member-template");
  var total = document.getElementById("id_members-TOTAL_FORMS");
  var max = document.getElementById("id_members-MAX_NUM_FORMS");
  if (add && template && total) {
    add.hidden = false;
    add.addEventListener("click", function () {
      var n = parseInt(total.value, 10);
      if (max && n >= parseInt(max.value, 10)) { return; }
      var html = template.innerHTML.replace(/__prefix__/g, String(n));
      document.getElementById("member-rows").insertAdjacentHTML("beforeend", html);
      total.value = String(n + 1);
    });
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
