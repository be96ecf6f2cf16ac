/* Case page: the neighbourhood graph (cytoscape). */
(function () {
  "use strict";

  // Case page: the neighbourhood graph (cytoscape), expanded by clicking a case or a party.
  var graphBox = document.getElementById("graph");
  if (graphBox && window.cytoscape) {
    var colours = { Case: "#0f5468", Party: "#c8553d", Location: "#2f7d4f", Mediator: "#805ad5",
                    Organization: "#805ad5", DisputeType: "#b7791f", Channel: "#b7791f", Element: "#2b6cb0" };
    var cy = window.cytoscape({
      container: graphBox,
      style: [
        { selector: "node", style: {
          "background-color": function (n) { return colours[n.data("label")] || "#718096"; },
          "label": "data(caption)", "font-size": 10, "color": "#1f2a33", "text-valign": "bottom", "text-margin-y": 3,
          "text-wrap": "ellipsis", "text-max-width": 90, "width": 16, "height": 16 } },
        { selector: "node[label = 'Case']", style: { "shape": "round-rectangle", "width": 20, "height": 14 } },
        { selector: "node.center", style: { "width": 28, "height": 20, "border-width": 3, "border-color": "#f6ad55" } },
        { selector: "node.expanded", style: { "border-width": 2, "border-color": "#1a7a8c" } },
        { selector: "edge", style: { "width": 1.2, "line-color": "#c5d0d8", "curve-style": "bezier" } },
        { selector: "edge[type = 'SIMILAR_TO']", style: { "line-style": "dashed", "line-color": "#90cdf4" } },
        { selector: "edge[type = 'REPEAT_OF']", style: { "width": 2.5, "line-color": "#dd6b20",
          "target-arrow-shape": "triangle", "target-arrow-color": "#dd6b20" } }
      ]
    });
    graphBox.cy = cy;  // reachable from the browser console and the end-to-end tests
    var selection = document.getElementById("graph-selection");
    var expanded = {};

    var addGraph = function (data) {
      var added = [];
      data.nodes.forEach(function (n) {
        if (cy.getElementById(n.id).empty()) {
          n.caption = n.label === "Case" ? (n.date ? n.date.slice(0, 7) + " " : "") + n.name : n.name;
          added.push({ group: "nodes", data: n });
        }
      });
      data.edges.forEach(function (e) {
        var id = e.source + "|" + e.type + "|" + e.target;
        if (cy.getElementById(id).empty()) {
          added.push({ group: "edges", data: { id: id, source: e.source, target: e.target, type: e.type } });
        }
      });
      cy.add(added);
      expanded[data.center] = true;
      cy.getElementById(data.center).addClass("expanded");
      cy.layout({ name: "cose", animate: false, randomize: false, padding: 20, idealEdgeLength: 90,
                  nodeRepulsion: 400000, nodeOverlap: 20, gravity: 40 }).run();
    };

    var load = function (url) {
      return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
    };

    load(graphBox.dataset.url).then(function (data) {
      addGraph(data);
      cy.getElementById(graphBox.dataset.center).addClass("center");
      graphBox.dataset.drawn = "true";
    }).catch(function () { selection.textContent = "图谱暂不可用。"; });

    cy.on("tap", "node", function (event) {
      var node = event.target;
      var label = node.data("label");
      selection.textContent = "";
      if (label === "Case" && node.data("case_id")) {
        var link = document.createElement("a");
        link.href = graphBox.dataset.caseUrl.replace("CASE_ID", encodeURIComponent(node.data("case_id")));
        link.textContent = "打开案件 " + node.data("case_id") + "：" + node.data("name");
        selection.appendChild(link);
      } else {
        selection.textContent = node.data("label_name") + "：" + node.data("name");
      }
      if ((label === "Case" || label === "Party") && !expanded[node.id()]) {
        load(graphBox.dataset.expandUrl + "?node=" + encodeURIComponent(node.id())).then(addGraph);
      }
    });
  }

})();
