// Follows running runs over server-sent events: moves their progress bars, and
// reloads the page once a run has ended (its results and status are final then).
// A run page (data-results set) also reloads, at most every few seconds, when new
// results have arrived, so its table grows while the run goes on.
"use strict";
function follow(el) {
  const source = new EventSource("/api/runs/" + encodeURIComponent(el.dataset.run) + "/events");
  let reloading = false;
  source.addEventListener("progress", (event) => {
    const run = JSON.parse(event.data);
    if (el.dataset.results !== undefined && run.results > Number(el.dataset.results) && !reloading) {
      reloading = true;
      setTimeout(() => { source.close(); window.location.reload(); }, 3000);
    }
    const p = run.progress;
    const bar = el.querySelector("progress");
    if (p.items_selected) { bar.max = p.items_selected; bar.value = p.items_done; }
    el.querySelector(".pct").textContent = (p.percent === null ? "—" : p.percent.toFixed(0)) + " %";
    el.querySelector(".done").textContent = p.items_done + "/" + (p.items_selected || "?");
    const current = el.querySelector(".current");
    if (current) { current.textContent = p.current_item || ""; }
    const eta = el.querySelector(".eta");
    if (eta && p.eta_s !== null) { eta.textContent = "ETA " + Math.round(p.eta_s) + "s"; }
  });
  source.addEventListener("done", () => { source.close(); window.location.reload(); });
}
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll('.progress[data-status="running"]').forEach(follow);
  // The runs page: a run started or ended anywhere (another machine on the same
  // store too) reloads the list. "since" is the state the list was rendered from,
  // so a run that starts before this stream connects still reloads it.
  const table = document.getElementById("runs");
  if (table) {
    const runs = new EventSource("/api/runs/events?since=" + encodeURIComponent(table.dataset.since));
    runs.addEventListener("runs", () => { runs.close(); window.location.reload(); });
  }
});
