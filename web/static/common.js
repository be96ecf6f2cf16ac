/* LeiAn: helpers every page module uses (window.LeiAn). Data comes from JSON blocks in the page
   (<script type="application/json">), never from inline scripts: the CSP forbids them. */
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }

  // A phone-sized screen: panels start folded there, results come first.
  function narrow() {
    return window.matchMedia("(max-width: 900px)").matches;
  }

  window.LeiAn = { readJson: readJson, getJson: getJson, narrow: narrow };
})();
