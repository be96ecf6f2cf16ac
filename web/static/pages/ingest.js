/* Ingest page: the upload, then the background job's phase and count until it is done. */
(function () {
  "use strict";

  var ingestForm = document.getElementById("ingest-form");
  if (ingestForm) {
    ingestForm.addEventListener("submit", function () {
      document.getElementById("ingest-uploading").hidden = false;
      document.getElementById("ingest-button").disabled = true;
    });
  }
  var jobBox = document.getElementById("ingest-job");
  if (jobBox) {
    var poll = function () {
      fetch(jobBox.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          if (job.status !== "running") { window.location.reload(); return; }
          document.getElementById("job-phase").textContent = job.phase_name;
          document.getElementById("job-written").textContent = job.written;
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }

})();
