/* Case page: the neighbourhood graph (cytoscape).
   A click on a case or a party expands it (its new neighbours are placed around it; nothing else moves),
   a second click collapses it. Hovering (or tapping) a node shows a card; the toolbar zooms, fits and resets. */
(function () {
  "use strict";
  var box = document.getElementById("graph");
  if (!box || !window.cytoscape) { return; }

  var KINDS = {
    Case: { colour: "#0f5468", shape: "round-rectangle" },
    Party: { colour: "#c8553d", shape: "ellipse" },
    Location: { colour: "#2f7d4f", shape: "diamond" },
    Mediator: { colour: "#805ad5", shape: "ellipse" },
    Organization: { colour: "#805ad5", shape: "hexagon" },
    DisputeType: { colour: "#b7791f", shape: "tag" },
    Channel: { colour: "#b7791f", shape: "triangle" },
    Element: { colour: "#2b6cb0", shape: "round-tag" }
  };
  var EDGE_NAMES = { INVOLVES: "涉及", OCCURRED_IN: "发生在", PART_OF: "属于", MEDIATED_BY: "调解员", MEMBER_OF: "所属组织",
                     OF_TYPE: "类型", SUBTYPE_OF: "大类", VIA: "来源", HAS_ELEMENT: "纠纷要素", REPEAT_OF: "重复纠纷", SIMILAR_TO: "相似" };
  var EXPANDABLE = { Case: true, Party: true };
  var selection = document.getElementById("graph-selection");
  var card = document.getElementById("graph-card");

  var cy = window.cytoscape({
    container: box,
    minZoom: 0.25,
    maxZoom: 3,
    wheelSensitivity: 0.25,
    style: [
      { selector: "node", style: {
        "background-color": function (n) { return (KINDS[n.data("label")] || {}).colour || "#718096"; },
        "shape": function (n) { return (KINDS[n.data("label")] || {}).shape || "ellipse"; },
        "label": "data(caption)", "font-size": 13, "color": "#1f2a33", "text-valign": "bottom", "text-margin-y": 4,
        "text-wrap": "wrap", "text-max-width": 120, "text-background-color": "#ffffff", "text-background-opacity": 0.85,
        "text-background-padding": 2, "text-background-shape": "roundrectangle", "width": 22, "height": 22,
        "min-zoomed-font-size": 7 } },
      { selector: "node[label = 'Case']", style: { "width": 28, "height": 20 } },
      { selector: "node.center", style: { "width": 38, "height": 26, "border-width": 4, "border-color": "#f6ad55",
        "font-weight": "bold" } },
      { selector: "node.expanded", style: { "border-width": 3, "border-color": "#1a7a8c", "border-style": "double" } },
      { selector: "node:selected", style: { "overlay-color": "#1a7a8c", "overlay-opacity": 0.15 } },
      { selector: "edge", style: { "width": 1.5, "line-color": "#b8c4cc", "curve-style": "bezier" } },
      { selector: "edge[type = 'SIMILAR_TO']", style: { "line-style": "dashed", "line-color": "#63b3ed", "width": 2 } },
      { selector: "edge[type = 'REPEAT_OF']", style: { "width": 3, "line-color": "#dd6b20",
        "target-arrow-shape": "triangle", "target-arrow-color": "#dd6b20" } },
      { selector: "edge[type = 'INVOLVES']", style: { "line-color": "#e2a596" } }
    ]
  });
  box.cy = cy;  // reachable from the browser console and the end-to-end tests

  var owner = {};      // element id -> the node whose expansion added it ("" for the first neighbourhood)
  var expanded = {};   // node id -> ids of the nodes and edges its expansion added
  var first = [];      // ids of the first neighbourhood, for 复原

  var short = function (text, n) { return text.length > n ? text.slice(0, n) + "…" : text; };
  var caption = function (n) {
    if (n.label === "Case") { return (n.date ? n.date.slice(0, 7) + " " : "") + short(n.name || n.case_id, 12); }
    if (n.label === "Party" && n.cases > 1) { return short(n.name, 10) + "（" + n.cases + "件）"; }
    return short(n.name || "", 12);
  };
  var edgeId = function (e) {
    // A similar pair is linked from both ends: draw one edge.
    if (e.type === "SIMILAR_TO") { return [e.source, e.target].sort().join("~") + "|SIMILAR_TO"; }
    return e.source + "|" + e.type + "|" + e.target;
  };

  // Where new neighbours of ``centre`` go: a ring around it, on the side away from the rest of the graph.
  var ring = function (centre, count) {
    var at = centre.position();
    var rest = cy.nodes().not(centre).boundingBox();
    var away = Math.atan2(at.y - (rest.y1 + rest.y2) / 2, at.x - (rest.x1 + rest.x2) / 2);
    var radius = 90 + 10 * Math.min(count, 12);
    var spread = count > 6 ? 2 * Math.PI : Math.PI;
    var spots = [];
    for (var i = 0; i < count; i++) {
      var angle = away - spread / 2 + spread * (i + 0.5) / count;
      spots.push({ x: at.x + radius * Math.cos(angle), y: at.y + radius * Math.sin(angle) });
    }
    return spots;
  };

  var addGraph = function (data, from) {
    var fresh = data.nodes.filter(function (n) { return cy.getElementById(n.id).empty(); });
    var spots = from ? ring(from, fresh.length) : [];
    var added = fresh.map(function (n, i) {
      n.caption = caption(n);
      owner[n.id] = from ? from.id() : "";
      return { group: "nodes", data: n, position: spots[i] };
    });
    data.edges.forEach(function (e) {
      var id = edgeId(e);
      if (cy.getElementById(id).empty()) {
        owner[id] = from ? from.id() : "";
        added.push({ group: "edges", data: { id: id, source: e.source, target: e.target, type: e.type } });
      }
    });
    cy.add(added);
    return added.map(function (element) { return element.data.id; });
  };

  var expand = function (node) {
    return window.LeiAn.getJson(box.dataset.expandUrl + "?node=" + encodeURIComponent(node.id())).then(function (data) {
      expanded[node.id()] = addGraph(data, node);
      node.addClass("expanded");
      box.dataset.expansions = String(Object.keys(expanded).length);
    });
  };

  var collapse = function (id) {
    (expanded[id] || []).forEach(function (child) {
      if (expanded[child]) { collapse(child); }
      if (owner[child] === id) { cy.getElementById(child).remove(); delete owner[child]; }
    });
    delete expanded[id];
    cy.getElementById(id).removeClass("expanded");
    box.dataset.expansions = String(Object.keys(expanded).length);
  };

  var describe = function (n) {
    var lines = [n.data("label_name") + "：" + (n.data("name") || "")];
    if (n.data("label") === "Case") {
      lines.push([n.data("case_id"), n.data("date"), n.data("outcome")].filter(Boolean).join(" · "));
    }
    if (n.data("label") === "Party" && n.data("cases")) { lines.push("共 " + n.data("cases") + " 件纠纷"); }
    var links = n.connectedEdges().map(function (e) { return EDGE_NAMES[e.data("type")] || e.data("type"); });
    if (links.length) { lines.push("关联 " + links.length + " 条"); }
    if (EXPANDABLE[n.data("label")]) { lines.push(expanded[n.id()] ? "单击收起" : "单击展开其关联"); }
    return lines;
  };

  var showCard = function (node) {
    card.textContent = "";
    describe(node).forEach(function (line, i) {
      var row = document.createElement(i ? "div" : "strong");
      row.textContent = line;
      card.appendChild(row);
    });
    var at = node.renderedPosition();
    card.style.left = Math.min(at.x + 16, box.clientWidth - 220) + "px";
    card.style.top = Math.max(at.y - 10, 0) + "px";
    card.hidden = false;
  };
  cy.on("mouseover", "node", function (event) { showCard(event.target); });
  cy.on("mouseout", "node", function () { card.hidden = true; });
  ["pan", "zoom"].forEach(function (name) { cy.on(name, function () { card.hidden = true; }); });

  cy.on("tap", "node", function (event) {
    var node = event.target;
    selection.textContent = "";
    if (node.data("label") === "Case" && node.data("case_id")) {
      var link = document.createElement("a");
      link.href = box.dataset.caseUrl.replace("CASE_ID", encodeURIComponent(node.data("case_id")));
      link.textContent = "打开案件 " + node.data("case_id") + "：" + node.data("name");
      selection.appendChild(link);
    } else {
      selection.textContent = node.data("label_name") + "：" + node.data("name");
    }
    if (EXPANDABLE[node.data("label")] && !node.hasClass("center")) {
      if (expanded[node.id()]) {
        collapse(node.id());
      } else {
        expand(node).then(function () { showCard(node); });
      }
    }
    showCard(node);
  });

  var layoutAll = function () {
    cy.layout({ name: "cose", animate: false, randomize: false, padding: 30, idealEdgeLength: 85,
                nodeRepulsion: 450000, nodeOverlap: 30, gravity: 30, componentSpacing: 80 }).run();
    cy.fit(undefined, 30);
  };

  var tools = { "graph-zoom-in": function () { zoomBy(1.25); }, "graph-zoom-out": function () { zoomBy(0.8); },
                "graph-fit": function () { cy.fit(undefined, 30); },
                "graph-reset": function () {
                  Object.keys(expanded).forEach(function (id) { if (expanded[id]) { collapse(id); } });
                  cy.elements().filter(function (e) { return first.indexOf(e.id()) < 0; }).remove();
                  layoutAll();
                } };
  var zoomBy = function (factor) {
    cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: box.clientWidth / 2, y: box.clientHeight / 2 } });
  };
  Object.keys(tools).forEach(function (id) {
    var button = document.getElementById(id);
    if (button) { button.addEventListener("click", tools[id]); }
  });

  // 503: the server is still catching the graph up with the store (after a restart): say so and ask again.
  var draw = function () {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      if (r.status === 503) {
        selection.textContent = "正在更新…图谱正与案件库同步，稍后自动显示。";
        box.dataset.updating = "true";
        window.setTimeout(draw, 3000);
        return;
      }
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.json().then(function (data) {
        first = addGraph(data, null);
        cy.getElementById(box.dataset.center).addClass("center");
        layoutAll();
        selection.textContent = "";
        delete box.dataset.updating;
        box.dataset.drawn = "true";
      });
    }).catch(function () { selection.textContent = "图谱暂不可用。"; });
  };
  draw();
})();
