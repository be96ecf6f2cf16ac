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

  // The last search (or case list) of this tab, so a case page's breadcrumb leads back to it. It stays in the
  // browser tab: the words typed (often names) never travel in links, logs or cookies.
  var SEARCH_KEY = "leian-last-search";
  function rememberSearch() {
    try { window.sessionStorage.setItem(SEARCH_KEY, window.location.pathname + window.location.search); } catch (e) { /* private mode */ }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var back = document.getElementById("back-to-search");
    var last = null;
    try { last = window.sessionStorage.getItem(SEARCH_KEY); } catch (e) { last = null; }
    if (back && last) {
      back.href = last;
      back.parentNode.hidden = false;
    }
  });

  window.LeiAn = { readJson: readJson, getJson: getJson, narrow: narrow, rememberSearch: rememberSearch };
})();
