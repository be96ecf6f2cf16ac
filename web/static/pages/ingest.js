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
          var step = document.getElementById("job-step");
          if (job.progress && job.progress.total) {
            var p = job.progress;
            var eta = p.eta_seconds === null ? "" : "，约 " + (p.eta_seconds >= 60 ? Math.round(p.eta_seconds / 60) + " 分钟" : p.eta_seconds + " 秒") + "后完成";
            step.textContent = p.step + "：" + p.done + "/" + p.total + " " + p.unit + "（" + p.rate + " " + p.unit + "/秒" + eta + "）";
            step.hidden = false;
          }
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }

})();
