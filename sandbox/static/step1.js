// Shows a STEP 1 control only when the answer it depends on says so (server checks the same rule).
(function () {
  "use strict";
  var form = document.querySelector("form.step1");
  if (!form) { return; }
  function currentValue(name) {
    var field = form.elements[name];
    if (!field) { return ""; }
    if (field instanceof RadioNodeList) { return field.value; }
    return field.value;
  }
  function refresh() {
    form.querySelectorAll("[data-show-when]").forEach(function (block) {
      var rule = block.getAttribute("data-show-when").split("=");
      block.hidden = currentValue(rule[0]) !== rule[1];
    });
  }
  form.addEventListener("change", refresh);
  refresh();
})();
