// The master's query box: runs ?expr= over the chosen range through /api/v1/query_range
// and draws one line per series. No libraries: the page must work offline.
(function () {
  const params = new URLSearchParams(location.search);
  const expr = params.get("expr");
  if (!expr) return;
  const ranges = { "15m": 900, "1h": 3600, "6h": 21600, "1d": 86400, "7d": 604800 };
  const range = ranges[params.get("range")] ? params.get("range") : "1h";
  document.getElementById("range").value = range;
  const end = Date.now() / 1000, start = end - ranges[range];
  // About 250 points across, like Prometheus's own graph.
  const step = Math.max(1, Math.round(ranges[range] / 250));
  const info = document.getElementById("graph-info");
  const error = document.getElementById("graph-error");
  const svg = document.getElementById("graph");
  info.textContent = "querying…";
  fetch("/api/v1/query_range?" + new URLSearchParams({ query: expr, start, end, step }))
    .then((r) => r.json())
    .then((body) => {
      if (body.status !== "success") throw new Error(body.error || "query failed");
      if (body.data.resultType !== "matrix") throw new Error("not a range of series: " + body.data.resultType);
      draw(body.data.result);
    })
    .catch((e) => {
      info.textContent = "";
      error.textContent = e.message;
    });

  function values(series) {
    return series.values.map(([t, v]) => [t, parseFloat(v)]).filter(([, v]) => isFinite(v));
  }

  function draw(result) {
    let lo = Infinity, hi = -Infinity, points = 0;
    for (const s of result) {
      for (const [, v] of values(s)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
        points++;
      }
    }
    svg.dataset.series = result.length;
    svg.dataset.points = points;
    if (points === 0) {
      info.textContent = "no data in the last " + range;
      return;
    }
    if (hi === lo) {
      hi += Math.abs(hi) * 0.1 || 1;
      lo -= Math.abs(lo) * 0.1 || 1;
    }
    const [w, h] = [960, 300];
    const x = (t) => ((t - start) / (end - start)) * w;
    const y = (v) => h - ((v - lo) / (hi - lo)) * (h - 8) - 4;
    const legend = document.getElementById("legend");
    result.forEach((s, i) => {
      const colour = "hsl(" + ((i * 137.5) % 360) + ",65%,42%)";
      const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("class", "series");
      line.setAttribute("stroke", colour);
      line.setAttribute("points", values(s).map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" "));
      svg.appendChild(line);
      const item = document.createElement("li");
      item.style.borderColor = colour;
      item.textContent = label(s.metric);
      legend.appendChild(item);
    });
    info.textContent = result.length + " series, " + points + " points, from " + lo.toPrecision(4) + " to " + hi.toPrecision(4);
  }

  function label(metric) {
    const { __name__: name = "", ...rest } = metric;
    const pairs = Object.entries(rest).map(([k, v]) => k + '="' + v + '"');
    return name + "{" + pairs.join(", ") + "}";
  }
})();
