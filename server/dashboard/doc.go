// Package dashboard is the web page berth serve shows at /: the jobs
// running and queued, live from the event stream; the recent results with
// their snapshot hit or miss and commit; a job's log, live; the snapshots
// per project and work item (generation, size, layers, age, TTL left), each
// removable after a confirmation; the disk the snapshots use per project
// over time; the gc runs; and each engine's health.
//
// The page is plain HTML, CSS and JavaScript modules, embedded in the
// binary (ui/): no build step, no framework, nothing loaded from elsewhere
// (its Content-Security-Policy allows this origin only). Its files hold no
// data and need no token; every piece of data comes from the API under
// /v1, to which the page sends the bearer token the user types in (kept in
// the browser tab's sessionStorage) when the daemon requires one.
package dashboard
