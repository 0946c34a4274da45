// One confirmation dialog for every button that carries a question (data-confirm; with
// data-confirm-if, only when its form has an element matching that selector). The
// dialog's markup, in the page's language, is the <template id="confirm-dialog"> of the
// base page. Confirming sends the form as the button would, with confirmed=1: the view
// then acts at once (without JavaScript it answers a confirmation page first).
(function () {
  "use strict";
  var template = document.getElementById("confirm-dialog");
  if (!template || typeof HTMLDialogElement !== "function") { return; }

  function ask(button) {
    var form = button.form;
    if (!form) { return; }
    var dialog = template.content.firstElementChild.cloneNode(true);
    dialog.querySelector("[data-question]").textContent = button.getAttribute("data-confirm");
    document.body.appendChild(dialog);
    dialog.addEventListener("close", function () {
      var yes = dialog.returnValue === "yes";
      dialog.remove();
      if (!yes) { button.focus(); return; }
      var flag = form.querySelector("input[name=confirmed]");
      if (!flag) {
        flag = document.createElement("input");
        flag.type = "hidden";
        flag.name = "confirmed";
        form.appendChild(flag);
      }
      flag.value = "1";
      if (form.requestSubmit) {
        form.requestSubmit(button);
      } else {
        button.setAttribute("data-confirmed", "1");
        button.click();
      }
      // The answer went with that submission only: if the browser held it back (a required
      // field) or it was a download, the next click asks again.
      flag.remove();
      button.removeAttribute("data-confirmed");
    });
    dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (!button || button.disabled) { return; }
    var only = button.getAttribute("data-confirm-if");
    if (only && button.form && !button.form.querySelector(only)) { return; }
    if (button.getAttribute("data-confirmed") === "1") {
      button.removeAttribute("data-confirmed");
      return;
    }
    event.preventDefault();
    ask(button);
  });
})();
