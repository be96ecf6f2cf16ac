/* Library page: deleting a library asks first. */
(function () {
  "use strict";
  var remove = document.getElementById("delete-library");
  if (remove) {
    remove.addEventListener("click", function (event) {
      if (!window.confirm(remove.dataset.confirm)) { event.preventDefault(); }
    });
  }
})();
