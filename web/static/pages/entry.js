/* Entry page: nothing typed is lost. Leaving with unsaved edits asks first; reviewing or publishing
   with unsaved edits asks whether to save them first. */
(function () {
  "use strict";
  var form = document.getElementById("entry-form");
  if (!form) { return; }
  var note = document.getElementById("dirty-note");
  var fields = form.querySelectorAll("textarea, input[name=tags]");
  var saved = Array.prototype.map.call(fields, function (f) { return f.value; });
  var dirty = function () {
    return Array.prototype.some.call(fields, function (f, i) { return f.value !== saved[i]; });
  };
  var submitting = false;

  form.addEventListener("input", function () { note.textContent = dirty() ? form.dataset.unsaved : ""; });
  form.addEventListener("submit", function () { submitting = true; });
  // Links of the page ask in words of our own; closing or reloading the tab gets the browser's prompt.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    if (link && !submitting && dirty()) {
      if (window.confirm("本页有尚未保存的修改，离开将丢失这些修改。确定离开吗？")) {
        submitting = true;  // the user chose to leave: no second prompt
      } else {
        event.preventDefault();
      }
    }
  });
  window.addEventListener("beforeunload", function (event) {
    if (!submitting && dirty()) {
      event.preventDefault();
      event.returnValue = "";  // browsers show their own wording
    }
  });

  var statusForm = document.getElementById("status-form");
  if (statusForm) {
    statusForm.addEventListener("submit", function (event) {
      if (!dirty()) { submitting = true; return; }
      event.preventDefault();
      var action = event.submitter ? event.submitter.value : "review";
      var verb = action === "publish" ? "发布" : "审核";
      if (window.confirm("本页有尚未保存的修改。先保存这些修改再" + verb + "吗？\n（取消：留在本页继续编辑）")) {
        document.getElementById("then").value = action;
        submitting = true;
        form.submit();
      }
    });
  }
})();
