/* Search page: Enter searches, the facet panel folds on a phone, checked results are counted. */
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  var box = document.getElementById("q");
  if (form && box) {
    box.addEventListener("keydown", function (event) {
      // Enter searches; Shift+Enter is a new line; Enter that confirms a Chinese input method's choice is not ours.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      }
    });
    // A pasted 调解笔录 longer than the box holds is cut by the browser without a word: say so.
    var tooLong = document.getElementById("q-too-long");
    var checkLength = function () {
      if (tooLong && box.maxLength > 0) { tooLong.hidden = box.value.length < box.maxLength; }
    };
    box.addEventListener("input", checkLength);
    checkLength();
  }

  var panel = document.getElementById("facet-panel");
  if (panel && window.LeiAn.narrow()) {
    panel.open = false;  // on a phone the results come first; the filters wait below, folded
  }
  var jump = document.getElementById("facet-jump");
  if (jump && panel) {
    jump.addEventListener("click", function () { panel.open = true; });
  }

  if (document.getElementById("results")) { window.LeiAn.rememberSearch(); }

  var picks = document.querySelectorAll("#pick-form input.pick");
  var counter = document.querySelector("#pick-form .selected-count");
  var update = function () {
    var checked = document.querySelectorAll("#pick-form input.pick:checked").length;
    if (counter) { counter.textContent = checked ? "已勾选 " + checked + " 件" : "先勾选下方案件"; }
  };
  Array.prototype.forEach.call(picks, function (box) { box.addEventListener("change", update); });
  update();
})();
